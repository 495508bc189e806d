# ngx_http_sso_module — build, test, demo, bench.
#
#   make build         build/nginx (vendored nginx 1.28) + build/ngx_http_sso_module.so
#   make build-debian  build/debian/ngx_http_sso_module.so for Debian bookworm's nginx 1.22
#   make test          both builds, then every test (unit + real nginx)
#
# Each target installs the Debian packages it needs when they are missing.

SHELL := /bin/bash
CARGO ?= cargo
PROFILE ?= release
# The vendored nginx also gets auth_request so the benchmark's forward-auth scenario runs
# in the same binary.
export NGX_CONFIGURE_ARGS ?= --with-http_auth_request_module
CARGO_PROFILE_FLAG := $(if $(filter release,$(PROFILE)),--release,)
TARGET_DIR := target
DEBIAN_TARGET_DIR := target/debian
DEBIAN_NGINX_OBJS := build/debian/nginx-objs

BUILD_DEPS := libclang-dev libpcre2-dev libssl-dev zlib1g-dev make gcc pkg-config
DEBIAN_DEPS := nginx nginx-dev

.PHONY: all build build-debian test demo demo-check provider-deps browser-deps deps deps-debian bench fuzz fuzz-smoke clean valgrind

all: build build-debian

deps:
	@./scripts/apt-ensure $(BUILD_DEPS)

deps-debian:
	@./scripts/apt-ensure $(BUILD_DEPS) $(DEBIAN_DEPS)

build: deps
	$(CARGO) build $(CARGO_PROFILE_FLAG) -p ngx_http_sso_module
	@mkdir -p build
	@nginx_dir=$$(./scripts/vendored-nginx-dir $(TARGET_DIR)/$(PROFILE)) && \
	  install -m 0755 "$$nginx_dir/nginx" build/nginx && \
	  echo "$$nginx_dir" > build/nginx-objs-dir
	install -m 0755 $(TARGET_DIR)/$(PROFILE)/libngx_http_sso_module.so build/ngx_http_sso_module.so
	@build/nginx -V 2>&1 | head -1

# Debian's nginx-dev ships the configured-nothing source of the installed nginx and the flags
# it was configured with; configure a copy with those flags so our bindings match its ABI.
$(DEBIAN_NGINX_OBJS)/ngx_auto_config.h:
	@$(MAKE) --no-print-directory deps-debian
	@./scripts/configure-debian-nginx $(DEBIAN_NGINX_OBJS)

build-debian: deps-debian $(DEBIAN_NGINX_OBJS)/ngx_auto_config.h
	NGINX_SOURCE_DIR=$(abspath build/debian/nginx-src) NGINX_BUILD_DIR=$(abspath $(DEBIAN_NGINX_OBJS)) CARGO_TARGET_DIR=$(DEBIAN_TARGET_DIR) \
	  $(CARGO) build $(CARGO_PROFILE_FLAG) -p ngx_http_sso_module --no-default-features
	@mkdir -p build/debian
	install -m 0644 $(DEBIAN_TARGET_DIR)/$(PROFILE)/libngx_http_sso_module.so build/debian/ngx_http_sso_module.so

provider-deps:
	@./scripts/provider-deps

# Debian's chromium + tests/browser's playwright-core, for the headless-Chromium login test.
browser-deps: provider-deps
	@./scripts/browser-deps

# Everything CI runs: unit and real-nginx tests on both builds, the provider's self-test, a
# short fuzzing smoke of every target, and the nginx tests' representative part under
# valgrind memcheck.
test: build build-debian provider-deps browser-deps
	$(CARGO) test $(CARGO_PROFILE_FLAG) --workspace
	cd tests/provider && npm test --silent
	./scripts/fuzz smoke
	./scripts/valgrind

# The nginx tests' gate, tokens and login parts with nginx under valgrind memcheck, on both
# builds; fails on any finding (scripts/valgrind; README "Fuzzing and memory checks").
valgrind: build build-debian provider-deps
	./scripts/valgrind

# The README's first command: nginx + the module in front of a demo app, with a real local
# OpenID provider. Ctrl-C stops everything.
demo: build provider-deps
	./scripts/demo-run

demo-check: build provider-deps
	./scripts/demo-run --check

# Benchmarks (see bench/run.sh): plain nginx, the module and auth_request side by side on the
# release build, core micro-benchmarks, worker memory; writes bench/RESULTS.md.
bench: build
	@./scripts/apt-ensure wrk curl
	./bench/run.sh

# Coverage-guided fuzzing of the core's parsers (fuzz/, README "Fuzzing and memory checks"):
# every target for FUZZ_SECONDS (default 60) each, one after the other; fuzz-smoke runs each
# for about 10 s and fails on any crash. Both install cargo-fuzz when it is missing.
fuzz:
	./scripts/fuzz run

fuzz-smoke:
	./scripts/fuzz smoke

clean:
	rm -rf build target
