# The two commands of the README quick start. Both work on a fresh Debian machine (root or sudo for apt).
PYTHON ?= python3
APT_PACKAGES_TEST := chromium postgresql nodejs
SUDO := $(shell [ "$$(id -u)" = "0" ] || echo sudo)

.PHONY: run test install install-test system-test-deps lint messages

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

## Extract every translatable string (Python, templates, JS) and merge it into each language's catalogue.
## Translate the new or changed (fuzzy) entries in callcenter/translations/*/LC_MESSAGES/messages.po; the app
## compiles the .mo files itself at start (tests/i18n fails while a zh_Hans entry is missing, empty or fuzzy).
messages:
	$(PYTHON) -m babel.messages.frontend extract -F babel.cfg -k t -k N_ -k _l -c TRANSLATORS: --add-location=file \
		--sort-by-file -w 120 --project callcenter -o callcenter/translations/messages.pot .
	$(PYTHON) -m babel.messages.frontend update -i callcenter/translations/messages.pot -d callcenter/translations \
		-D messages --ignore-obsolete -w 120
	$(PYTHON) -m babel.messages.frontend compile -d callcenter/translations -D messages --statistics
