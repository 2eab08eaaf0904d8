"""The run: one lock per database, the plan, its execution and the ledger of runs.

What ``guardedmigrate`` does end to end (:mod:`.runner`), Django's ``migrate``
executing the plan (:mod:`.execution`), a failed run and its restore
(:mod:`.failure`), the targets it resolves (:mod:`.planning`), the deploy
phases it selects (:mod:`.phases`), bounded lock waits and retries
(:mod:`.locktimeouts`, the sessions' timeouts in :mod:`.sessiontimeouts`, the
blocking sessions named by :mod:`.blockers`), signals (:mod:`.interrupts`),
crash recovery (:mod:`.recovery`), the ledger it writes (:mod:`.ledger`) and
progress on a terminal (:mod:`.progress`).
"""
