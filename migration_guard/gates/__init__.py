"""Gates: what ``checkmigrations`` and ``--rehearse`` refuse before a deploy.

The apps to check (:mod:`.selection`), the static gates as sections of a report
(:mod:`.problems`): lint of migration files (:mod:`.lint`), checksums of applied
migrations (:mod:`.checksums`), lock-aware gates (:mod:`.locks`); round trips on
a scratch database (:mod:`.roundtrip`, reported by :mod:`.roundtrip_report`),
rehearsals on a copy (:mod:`.rehearse`) and the locks a rehearsal takes
(:mod:`.lockwatch`).
"""
