# Quickstart:
#   make demo   set up .venv and take the tour of migration_guard on the bundled
#               testproject (SQLite): testproject/demo.py, step by step
#   make test   set up .venv and run the whole suite on SQLite, PostgreSQL and
#               MariaDB (the admin pages in Chromium included: tests/browser),
#               the corpus (make corpus), with coverage (make coverage fails
#               under the floor of pyproject.toml), then the tox matrix
#               (Django 5.2, 6.0, 6.1) on SQLite
#   make test-browser  only the browser tests; MIGRATION_GUARD_SCREENSHOTS=1 keeps
#               their screenshots in tests/browser/screenshots/
#   make corpus install the corpus's pinned third-party apps into .venv and run
#               tests/corpus (a real project of them) on the three backends

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CORPUS_STAMP := $(VENV)/.corpus-installed
CORPUS_REQUIREMENTS := tests/corpus/requirements.txt
DEMO_DB := $(CURDIR)/testproject/db.sqlite3
# Python 3.12/3.13 for tox: the newest pyenv install of each, when pyenv is there
PYENV_BINS := $(shell command -v pyenv >/dev/null 2>&1 && for m in 12 13; do \
  v=$$(pyenv versions --bare 2>/dev/null | grep -E "^3\.$$m\.[0-9]+$$" | sort -V | tail -1); \
  [ -n "$$v" ] && printf '%s:' "$$(pyenv root)/versions/$$v/bin"; done)
TOX_ENV := $(if $(PYENV_BINS),PATH=$(PYENV_BINS)$$PATH,)
TOX_FLAGS := $(if $(filter true 1 yes,$(CI)),--skip-missing-interpreters=false,)

.PHONY: demo test test-backends test-browser test-matrix corpus corpus-deps coverage lint venv clean

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

# the tour: each step says what it shows (testproject/demo.py)
demo: $(STAMP)
	@$(BIN)/python testproject/demo.py

test: $(STAMP) test-backends corpus coverage test-matrix

# test-backends and corpus run under coverage (the manage.py subprocesses of
# the tests too: [tool.coverage.run] in pyproject.toml), one data file per
# process; test-backends starts afresh, corpus adds to it, coverage combines
# them and fails when the total is under fail_under. The tox matrix runs
# without coverage: it repeats the suite on SQLite with other Django versions.
test-backends: $(STAMP)
	$(BIN)/coverage erase
	$(BIN)/coverage run -m pytest --ignore=tests/corpus

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
	$(BIN)/coverage run -m pytest tests/corpus

coverage: $(STAMP)
	$(BIN)/coverage combine --quiet
	$(BIN)/coverage report

test-browser: $(STAMP)
	$(BIN)/python -m pytest -m browser tests/browser

test-matrix: $(STAMP)
	MIGRATION_GUARD_TEST_BACKENDS=sqlite $(TOX_ENV) $(BIN)/tox run $(TOX_FLAGS)

lint: $(STAMP)
	$(BIN)/ruff check migration_guard tests bench testproject
	$(BIN)/ruff format --check migration_guard tests bench testproject
	PYTHONPATH=testproject:. $(BIN)/mypy

clean:
	rm -rf $(VENV) .tox $(DEMO_DB) $(DEMO_DB).migration-guard-lock testproject/backups
	rm -f .coverage .coverage.*
