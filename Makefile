# ngx_http_sso_module — build, test, demo, bench.
#
#   make build         build/nginx (vendored nginx 1.28) + build/ngx_http_sso_module.so
#   make build-debian  build/debian/ngx_http_sso_module.so for Debian bookworm's nginx 1.22
#   make build-trixie  build/trixie/ngx_http_sso_module.so for Debian trixie's nginx 1.26
#   make deb           build/deb/{bookworm,trixie}/libnginx-mod-http-sso_*.deb (+ lintian)
#   make test-packages install/purge the bookworm .deb here, load the trixie one in a trixie root
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

BUILD_DEPS := libclang-dev libpcre2-dev libssl-dev zlib1g-dev make gcc pkg-config
DEBIAN_DEPS := nginx nginx-dev

.PHONY: all build build-debian build-trixie deb test-packages test demo demo-check provider-deps browser-deps redis-deps deps deps-debian bench fuzz fuzz-smoke clean valgrind

all: build build-debian

deps:
	@./scripts/apt-ensure $(BUILD_DEPS)

deps-debian:
	@./scripts/apt-ensure $(BUILD_DEPS) $(DEBIAN_DEPS)

# The nginx tests' Redis (tests/nginx/redis.rs): redis-server run as a child on a free port
# (its system service is kept from starting), redis-cli, openssl for the TLS test's CA.
redis-deps:
	@./scripts/apt-ensure redis-server redis-tools openssl

build: deps
	$(CARGO) build $(CARGO_PROFILE_FLAG) -p ngx_http_sso_module
	@mkdir -p build
	@nginx_dir=$$(./scripts/vendored-nginx-dir $(TARGET_DIR)/$(PROFILE)) && \
	  install -m 0755 "$$nginx_dir/nginx" build/nginx && \
	  echo "$$nginx_dir" > build/nginx-objs-dir
	install -m 0755 $(TARGET_DIR)/$(PROFILE)/libngx_http_sso_module.so build/ngx_http_sso_module.so
	@build/nginx -V 2>&1 | head -1

# Debian's nginx-dev ships the source of the installed nginx and the configure flags its
# module packages are built with (conf_flags); scripts/build-module configures a copy of it
# with those flags and builds the module against it, so the bindings match its ABI.
DEBIAN_NGINX_SRC := /usr/share/nginx/src
nginx_dev_args = $(shell bash -c '. "$$1/conf_flags" && echo "$${NGX_CONF_FLAGS[*]}"' _ $(1))

build-debian: deps-debian
	./scripts/build-module --nginx-src $(DEBIAN_NGINX_SRC) \
	  --configure-args "$(call nginx_dev_args,$(DEBIAN_NGINX_SRC))" \
	  --work build/debian --target-dir $(DEBIAN_TARGET_DIR) --out build/debian/ngx_http_sso_module.so

# Debian trixie's nginx-dev (downloaded through a private apt directory, see
# packaging/debian/apt-suite; the machine's apt sources are left alone).
TRIXIE_NGINX_DEV := .cache/debian/trixie
TRIXIE_NGINX_SRC := $(TRIXIE_NGINX_DEV)/usr/share/nginx/src

build-trixie: deps
	./packaging/debian/fetch-nginx-dev trixie $(TRIXIE_NGINX_DEV)
	@# The flags are read in the shell, after the download (make expands a whole recipe
	@# before running it, when conf_flags may not exist yet).
	./scripts/build-module --nginx-src $(TRIXIE_NGINX_SRC) \
	  --configure-args "$$(. $(TRIXIE_NGINX_SRC)/conf_flags && echo "$${NGX_CONF_FLAGS[*]}")" \
	  --work build/trixie --target-dir target/trixie --out build/trixie/ngx_http_sso_module.so

# libnginx-mod-http-sso for Debian 12 and 13, laid out as Debian's own libnginx-mod-* packages
# (packaging/debian/build-deb), checked with lintian.
deb: build-debian build-trixie
	@./scripts/apt-ensure dpkg-dev lintian
	rm -rf build/deb
	./packaging/debian/build-deb --so build/debian/ngx_http_sso_module.so \
	  --nginx-dev $(DEBIAN_NGINX_SRC) --suite bookworm --out-dir build/deb/bookworm
	./packaging/debian/build-deb --so build/trixie/ngx_http_sso_module.so \
	  --nginx-dev $(TRIXIE_NGINX_SRC) --suite trixie --out-dir build/deb/trixie
	lintian --display-info --fail-on error,warning \
	  build/deb/*/*.deb

# The packages on real Debian nginx: tests/packages/run (needs root; debootstraps a trixie
# root into .cache/ once). Prints "N passed, M failed" last.
test-packages: deb build provider-deps
	@./scripts/apt-ensure debootstrap curl jq openssl
	./tests/packages/run

provider-deps:
	@./scripts/provider-deps

# Debian's chromium + tests/browser's playwright-core, for the headless-Chromium login test.
browser-deps: provider-deps
	@./scripts/browser-deps

# Everything CI runs: unit and real-nginx tests on both builds, the provider's self-test, a
# short fuzzing smoke of every target, the nginx tests' representative part under valgrind
# memcheck, the background-job self-test (tests/net/selftest.sh: the module built with the
# `selftest` feature), and the Debian packages installed, used and purged (test-packages).
test: build build-debian provider-deps browser-deps redis-deps
	@# The status endpoint's test reads the metrics with prometheus_client's parser.
	@./scripts/apt-ensure python3-prometheus-client
	$(CARGO) test $(CARGO_PROFILE_FLAG) --workspace
	cd tests/provider && npm test --silent
	./scripts/fuzz smoke
	./scripts/valgrind
	@# After everything that runs the nginx tests: it leaves a selftest-featured module crate
	@# in target/, which test-packages' `make build` builds again without the feature.
	@./scripts/apt-ensure curl python3
	./tests/net/selftest.sh
	$(MAKE) --no-print-directory test-packages

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
# release build, core micro-benchmarks, worker memory, instructions per request (callgrind);
# writes bench/RESULTS.md.
bench: build
	@./scripts/apt-ensure wrk curl valgrind
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
