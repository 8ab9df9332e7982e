# wxhost — every set-up step lives here, so a fresh machine with only the Rust
# toolchain needs nothing else: `make run` serves, `make test` tests.

CARGO_TARGET_DIR ?= target
export CARGO_TARGET_DIR
WXHOST_LISTEN ?= 127.0.0.1:8080
EXAMPLES := echo keyword welcome menu

.PHONY: setup plugins run release test lint bench load clean-run

setup:
	rustup target add wasm32-wasip2

plugins: setup
	scripts/build-plugins.sh

# Serve with the built-in config (sample credentials) and the example plugins.
# Plaintext pushes are allowed here so `simulate --mode plaintext` can be tried;
# a real deployment keeps the default, which refuses them when a key is set.
WXHOST_REQUIRE_ENCRYPTION ?= false
run: plugins
	mkdir -p plugins.d
	for p in $(EXAMPLES); do cp build/wasm/$$p.wasm plugins.d/; done
	WXHOST_LISTEN=$(WXHOST_LISTEN) WXHOST_REQUIRE_ENCRYPTION=$(WXHOST_REQUIRE_ENCRYPTION) cargo run -p wxhost -- serve

release:
	cargo build --release -p wxhost

# Every test: unit, property, plugin runtime, API (fake WeChat), end to end.
test: plugins
	cargo build -p wxhost --bin wxhost
	cargo test

lint: setup
	cargo fmt --all --check
	cargo clippy -p wxhost -p wxhost-tests --all-targets -- -D warnings

bench: plugins
	cargo bench -p wxhost

load:
	bench/load.sh
