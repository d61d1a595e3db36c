# The two commands: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
FLASK  := $(BIN)/flask --app server
APT_PACKAGES := chromium fonts-dejavu-core poppler-utils postgresql postgresql-postgis
HOST ?= 127.0.0.1
PORT ?= 5000

.PHONY: run test test-all serve data system-deps venv bench clean i18n

$(STAMP): pyproject.toml setup.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test,postgres]'
	touch $@

MO := translations/vi/LC_MESSAGES/messages.mo
$(MO): translations/vi/LC_MESSAGES/messages.po $(STAMP)
	$(BIN)/pybabel compile --statistics -d translations

venv: $(STAMP) $(MO)

# The catalogue: collect the messages of the code and templates, merge them into the Vietnamese
# translations (new ones come empty, obsolete ones are dropped) and compile. Fill every empty msgstr.
POT := translations/messages.pot
i18n: $(STAMP)
	$(BIN)/pybabel extract -F babel.cfg -k N_ -k _l --no-location --sort-output -o $(POT) .
	$(BIN)/pybabel update -i $(POT) -d translations --no-fuzzy-matching --ignore-obsolete --no-wrap
	@rm -f $(POT)
	$(BIN)/pybabel compile --statistics -d translations

# Debian packages the browser tests and the PNG/PDF exports need.
system-deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "Installing Debian packages:$$missing"; \
	  SUDO=; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi

# Creates the SQLite store, loads the shipped ward boundaries and the demo incidents. The settings
# come from the environment: `BOUNDARY_SETS=haiphong-2025 make run` (or `make run BOUNDARY_SETS=…`)
# loads and serves those sets; a set not in BOUNDARY_SOURCE_DIR is rebuilt from its upstream files
# once (BOUNDARY_MIRROR_URL for an internal mirror) and kept in instance/boundaries.
data: venv
	$(FLASK) init-db
	$(FLASK) load-shipped-boundaries
	$(FLASK) demo-data
	@$(FLASK) create-user admin --role admin --if-missing

run: data
	@echo "Serving on http://$(HOST):$(PORT)  (Ctrl+C to stop). Sign in as 'admin' with the password printed above (printed once, when the account is created)."
	$(FLASK) run --host $(HOST) --port $(PORT)

# The production server: several worker processes (each keeps its own analysis cache).
WORKERS ?= 4
serve: data
	$(BIN)/gunicorn -w $(WORKERS) -b $(HOST):$(PORT) --timeout 120 'server:create_app()'

# The suite runs on every core (pytest-xdist; the tests of a module marked xdist_group on one worker,
# which builds its fixtures once) and prints its ten slowest tests. `make test` leaves out the checks
# marked slow (the language crawl of every page, kill -9 during imports, the installed wheel, the dask
# cluster); `make test-all` runs everything, as CI does.
PYTEST := $(BIN)/python -m pytest -q -n auto --dist loadgroup --durations=10
test: venv system-deps
	$(PYTEST) -m "not slow"

test-all: venv system-deps
	$(PYTEST)

bench: venv
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) instance data/demo
