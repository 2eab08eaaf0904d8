# Quickstart:
#   make demo   set up .venv and run safemigrate on the bundled testproject (SQLite)
#   make test   set up .venv and run the whole suite on SQLite, PostgreSQL and
#               MariaDB, the corpus (make corpus), then the tox matrix
#               (Django 5.2, 6.0, 6.1) on SQLite
#   make corpus install the corpus's pinned third-party apps into .venv and run
#               tests/corpus (a real project of them) on the three backends

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CORPUS_STAMP := $(VENV)/.corpus-installed
CORPUS_REQUIREMENTS := tests/corpus/requirements.txt
DEMO_DB := $(CURDIR)/testproject/db.sqlite3
DEMO_ENV := DATABASE_URL=sqlite:///$(DEMO_DB)
MANAGE := $(DEMO_ENV) $(BIN)/python testproject/manage.py
# Python 3.12/3.13 for tox: the newest pyenv install of each, when pyenv is there
PYENV_BINS := $(shell command -v pyenv >/dev/null 2>&1 && for m in 12 13; do \
  v=$$(pyenv versions --bare 2>/dev/null | grep -E "^3\.$$m\.[0-9]+$$" | sort -V | tail -1); \
  [ -n "$$v" ] && printf '%s:' "$$(pyenv root)/versions/$$v/bin"; done)
TOX_ENV := $(if $(PYENV_BINS),PATH=$(PYENV_BINS)$$PATH,)
TOX_FLAGS := $(if $(filter true 1 yes,$(CI)),--skip-missing-interpreters=false,)

.PHONY: demo test test-backends test-matrix corpus corpus-deps lint venv clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[postgres,test]'
	@# mysqlclient compiles against libmariadb-dev; without it the MariaDB
	@# tests are skipped with the reason (and fail under CI=true).
	$(BIN)/python -m pip install -q -e '.[mysql]' || \
	  echo "warning: mysqlclient did not install (apt-get install libmariadb-dev pkg-config)"
	touch $@

demo: $(STAMP)
	rm -rf $(DEMO_DB) $(DEMO_DB).safemigrate-lock testproject/backups
	@echo "== safemigrate --plan (nothing is written)"
	$(MANAGE) safemigrate --plan
	@echo "== safemigrate: lock, verified backup, apply, record"
	$(MANAGE) safemigrate
	@echo "== safemigrate again: nothing to do, no backup"
	$(MANAGE) safemigrate
	@echo "== a backward run: catalog back to 0001, backed up first"
	$(MANAGE) safemigrate catalog 0001 --noinput
	$(MANAGE) safemigrate
	@echo "== what undoing the last run would do, then undo it, then re-apply"
	$(MANAGE) rollbackplan --last
	$(MANAGE) rollback --last --noinput
	$(MANAGE) safemigrate --noinput
	@echo "== safemigrate --check: exit 0, nothing pending"
	$(MANAGE) safemigrate --check
	@echo "== the live schema against the recorded history, and the CI gate"
	out=$$($(MANAGE) reconcile --check) && echo "$$out" | tail -1
	$(MANAGE) checkmigrations
	@echo "== the ledger and the backups"
	$(MANAGE) migrationhistory
	$(MANAGE) migrationbackups list
	$(MANAGE) migrationbackups verify $$($(MANAGE) migrationbackups list --format json | \
	  $(BIN)/python -c 'import json, sys; print(json.load(sys.stdin)["backups"][0]["id"])')

test: $(STAMP) test-backends corpus test-matrix

test-backends: $(STAMP)
	$(BIN)/python -m pytest --ignore=tests/corpus

# The corpus's apps go into .venv with Django pinned to the version already
# there (pip would otherwise be free to move it); the stamp makes it a no-op
# until the requirements change.
corpus-deps: $(CORPUS_STAMP)

$(CORPUS_STAMP): $(STAMP) $(CORPUS_REQUIREMENTS)
	$(BIN)/python -c 'import django; print("Django==" + django.__version__)' \
	  > $(VENV)/corpus-constraints.txt
	$(BIN)/python -m pip install -q -r $(CORPUS_REQUIREMENTS) \
	  -c $(VENV)/corpus-constraints.txt
	touch $@

corpus: $(CORPUS_STAMP)
	$(BIN)/python -m pytest tests/corpus

test-matrix: $(STAMP)
	SAFEMIGRATE_TEST_BACKENDS=sqlite $(TOX_ENV) $(BIN)/tox run $(TOX_FLAGS)

lint: $(STAMP)
	$(BIN)/ruff check safemigrate tests bench testproject
	$(BIN)/ruff format --check safemigrate tests bench testproject
	PYTHONPATH=testproject:. $(BIN)/mypy

clean:
	rm -rf $(VENV) .tox $(DEMO_DB) $(DEMO_DB).safemigrate-lock testproject/backups
