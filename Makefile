# instanceha — install, test, lint, demo.  See README.md.

PYTHON        ?= /usr/bin/python3
DESTDIR       ?=
PREFIX        ?= /usr
SBINDIR       ?= $(PREFIX)/sbin
OCF_ROOT      ?= /usr/lib/ocf
MANDIR        ?= $(PREFIX)/share/man
PYTHON_SITEDIR ?= $(shell $(PYTHON) -c "import site; print(next(p for p in site.getsitepackages() if p.startswith('/usr/local')))")
OCF_PROVIDER  := instanceha
OCF_DIR       := $(OCF_ROOT)/resource.d/$(OCF_PROVIDER)
AGENTS        := $(notdir $(wildcard agents/*))
FENCE_AGENTS  := $(notdir $(wildcard fence/fence_*))
ALERTS        := $(notdir $(wildcard alerts/*))
ALERT_DIR     ?= /usr/lib/instanceha
DATADIR       ?= $(PREFIX)/share/instanceha
BUILD         := build
PYTEST_ARGS   ?=

.PHONY: all man install uninstall lint test check test-deps demo clean

all: man

man:
	rm -rf $(BUILD)/man
	PYTHONPATH=lib $(PYTHON) -m instanceha.manpages $(BUILD)/man >/dev/null

install: man
	install -d $(DESTDIR)$(PYTHON_SITEDIR)/instanceha
	cd lib && find instanceha -name '*.py' -o -name py.typed | while read -r f; do \
	    install -D -m 644 "$$f" "$(DESTDIR)$(PYTHON_SITEDIR)/$$f"; done
	$(PYTHON) -m compileall -q -d $(PYTHON_SITEDIR)/instanceha $(DESTDIR)$(PYTHON_SITEDIR)/instanceha
	install -d $(DESTDIR)$(OCF_DIR) $(DESTDIR)$(SBINDIR)
	for a in $(AGENTS); do install -m 755 agents/$$a $(DESTDIR)$(OCF_DIR)/$$a; done
	for f in $(FENCE_AGENTS); do install -m 755 fence/$$f $(DESTDIR)$(SBINDIR)/$$f; done
	install -d $(DESTDIR)$(ALERT_DIR)
	for a in $(ALERTS); do install -m 755 alerts/$$a $(DESTDIR)$(ALERT_DIR)/$$a; done
	install -d $(DESTDIR)$(DATADIR)/cib_templates
	install -m 644 cib_templates/*.xml.in $(DESTDIR)$(DATADIR)/cib_templates/
	install -d $(DESTDIR)$(PREFIX)/share/doc/instanceha/examples
	install -m 644 docs/examples/inventory.yaml $(DESTDIR)$(PREFIX)/share/doc/instanceha/examples/
	if [ -x bin/instanceha ]; then install -m 755 bin/instanceha $(DESTDIR)$(SBINDIR)/instanceha; fi
	for d in man7 man8; do if [ -d $(BUILD)/man/$$d ]; then \
	    install -d $(DESTDIR)$(MANDIR)/$$d; \
	    install -m 644 $(BUILD)/man/$$d/* $(DESTDIR)$(MANDIR)/$$d/; fi; done

uninstall: man
	rm -rf $(DESTDIR)$(PYTHON_SITEDIR)/instanceha
	for a in $(AGENTS); do rm -f $(DESTDIR)$(OCF_DIR)/$$a; done
	-rmdir $(DESTDIR)$(OCF_DIR) 2>/dev/null
	for f in $(FENCE_AGENTS); do rm -f $(DESTDIR)$(SBINDIR)/$$f; done
	for a in $(ALERTS); do rm -f $(DESTDIR)$(ALERT_DIR)/$$a; done
	-rmdir $(DESTDIR)$(ALERT_DIR) 2>/dev/null
	for t in cib_templates/*.xml.in; do rm -f $(DESTDIR)$(DATADIR)/$$t; done
	-rmdir $(DESTDIR)$(DATADIR)/cib_templates $(DESTDIR)$(DATADIR) 2>/dev/null
	rm -f $(DESTDIR)$(PREFIX)/share/doc/instanceha/examples/inventory.yaml
	-rmdir $(DESTDIR)$(PREFIX)/share/doc/instanceha/examples $(DESTDIR)$(PREFIX)/share/doc/instanceha 2>/dev/null
	if [ -x bin/instanceha ]; then rm -f $(DESTDIR)$(SBINDIR)/instanceha; fi
	for d in man7 man8; do if [ -d $(BUILD)/man/$$d ]; then \
	    for p in $(BUILD)/man/$$d/*; do rm -f $(DESTDIR)$(MANDIR)/$$d/$$(basename $$p); done; fi; done

lint:
	$(PYTHON) -m ruff check lib tests bench agents/* fence/* alerts/*
	$(PYTHON) -m mypy

test-deps:
	scripts/install-test-deps.sh

test:
	scripts/run-tests.sh $(PYTEST_ARGS)

# The one command CI runs: install what tests need, install the project, lint, run every test.
check: test-deps install lint test

demo:
	scripts/demo.sh

clean:
	rm -rf $(BUILD) .pytest_cache .mypy_cache .ruff_cache
	find . -name __pycache__ -prune -exec rm -rf {} +
