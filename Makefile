# The README's two commands: `make run` (set up and start with a demo centre) and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
HOST   ?= 127.0.0.1
PORT   ?= 5000

.PHONY: run test install lint audit lock clean

# Installs exactly the versions in requirements.lock (the ones tested and audited).
$(STAMP): pyproject.toml requirements.lock
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "Tessera needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --constraint requirements.lock -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

# The demo's DIDs and links are built from the public URL, so it follows the port.
run: export TESSERA_PUBLIC_URL ?= http://localhost:$(PORT)
run: $(STAMP)
	$(BIN)/tessera init
	$(BIN)/tessera demo
	$(BIN)/tessera serve --host $(HOST) --port $(PORT)

# The browser tests drive Debian's chromium: installed here when missing and we are root.
test: $(STAMP) lint audit
	@if [ -n "$$TESSERA_CHROMIUM" ] || command -v chromium >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "Installing chromium for the browser tests"; \
	  apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium; \
	else \
	  echo "chromium is missing: install it (sudo apt-get install chromium) or set TESSERA_CHROMIUM."; \
	  echo "Until then the browser tests are skipped here, and fail when CI is set."; \
	fi
	$(BIN)/python -m pytest --cov --cov-report=term $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

# Known vulnerabilities in requirements.lock fail the build (.ci/audit). Where no vulnerability
# database can be reached, it says NOT AUDITED and carries on; set TESSERA_AUDIT_OFFLINE_OK=0
# to fail then too.
audit: export TESSERA_AUDIT_OFFLINE_OK ?= 1
audit: $(STAMP)
	BIN=$(BIN) .ci/audit

# After changing dependencies in pyproject.toml: install them, then pin what was installed.
lock: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	{ sed -n '1,2p' requirements.lock; $(BIN)/python -m pip freeze --exclude-editable; } > requirements.lock.new
	mv requirements.lock.new requirements.lock

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
