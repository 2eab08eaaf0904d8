"""Gates: what ``checkmigrations`` and ``--rehearse`` refuse before a deploy.

Static lint of migration files (:mod:`.lint`), checksums of applied migrations
(:mod:`.checksums`), round trips on a scratch database (:mod:`.roundtrip`, reported
by :mod:`.roundtrip_report`), rehearsals on a copy (:mod:`.rehearse`), lock-aware
gates (:mod:`.locks`) and the locks a rehearsal
takes (:mod:`.lockwatch`).
"""
