# The README's two commands: `make run` (set up and start with a demo centre) and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
HOST   ?= 127.0.0.1
PORT   ?= 5000

.PHONY: run test install lint clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "Tessera needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

# The demo's DIDs and links are built from the public URL, so it follows the port.
run: export TESSERA_PUBLIC_URL ?= http://localhost:$(PORT)
run: $(STAMP)
	$(BIN)/tessera init
	$(BIN)/tessera demo
	$(BIN)/tessera serve --host $(HOST) --port $(PORT)

# The browser tests drive Debian's chromium: installed here when missing and we are root.
test: $(STAMP) lint
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

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
