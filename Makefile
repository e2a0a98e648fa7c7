# The two commands of the README quick start. Both work on a fresh Debian machine (root or sudo for apt).
PYTHON ?= python3
APT_PACKAGES_TEST := chromium postgresql nodejs
SUDO := $(shell [ "$$(id -u)" = "0" ] || echo sudo)

.PHONY: run test install install-test system-test-deps lint

## Install the product and run it (SQLite + embedded Redis + carrier emulator, demo data on first run).
run: install
	callcenter run

## Install everything the tests need (pip extras with psutil, Debian chromium, postgresql and nodejs when missing),
## run the suite. node checks the syntax of the JavaScript the product serves (tests/telephony/sim/test_app_wiring.py).
test: install-test
	$(PYTHON) -m ruff check .
	$(PYTHON) -m pytest $(PYTEST_ARGS)

install:
	$(PYTHON) -m pip install --quiet -e .

install-test: system-test-deps
	$(PYTHON) -m pip install --quiet -e '.[test]'

system-test-deps:
	@missing=""; \
	[ -x /usr/bin/chromium ] || missing="$$missing chromium"; \
	command -v node >/dev/null 2>&1 || missing="$$missing nodejs"; \
	{ [ -x /usr/local/bin/initdb ] || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; } || missing="$$missing postgresql"; \
	if [ -n "$$missing" ]; then \
		echo "Installing Debian packages:$$missing"; \
		$(SUDO) apt-get update -qq && $(SUDO) DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

lint:
	$(PYTHON) -m ruff check .
