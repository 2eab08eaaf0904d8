"""Verified backups: one backend per vendor, storage with manifests."""
