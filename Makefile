# wxhost — every set-up step lives here, so a fresh machine with only the Rust
# toolchain needs nothing else: `make run` serves, `make test` tests.

CARGO_TARGET_DIR ?= target
export CARGO_TARGET_DIR
WXHOST_LISTEN ?= 127.0.0.1:8080
EXAMPLES := echo keyword welcome menu member

.PHONY: setup plugins js-types run run-assistant release test lint bench load new-load profile web-load soak clean-run

setup:
	rustup target add wasm32-wasip2

# Rust, JavaScript and Python plugins into build/wasm/ (the JS and Python
# tools are installed on first use: scripts/setup-js.sh, scripts/setup-python.sh).
plugins: setup
	scripts/build-plugins.sh

# After a WIT change: regenerate sdk-js/types/wit (the plugin build checks them).
js-types:
	scripts/gen-js-types.sh

# Serve with the built-in config (sample credentials) and the example plugins.
# Plaintext pushes are allowed here so `simulate --mode plaintext` can be tried;
# a real deployment keeps the default, which refuses them when a key is set.
WXHOST_REQUIRE_ENCRYPTION ?= false
run: plugins
	mkdir -p plugins.d
	for p in $(EXAMPLES); do cp build/wasm/$$p.wasm plugins.d/; done
	WXHOST_LISTEN=$(WXHOST_LISTEN) WXHOST_REQUIRE_ENCRYPTION=$(WXHOST_REQUIRE_ENCRYPTION) cargo run -p wxhost -- serve

# The assistant plugin against the fake model server of the tests (no account,
# no key): chat with `wxhost simulate --text hello` (deploy/assistant-dev.toml).
run-assistant: plugins
	mkdir -p plugins.d
	for p in keyword welcome menu member assistant; do cp build/wasm/$$p.wasm plugins.d/; done
	cargo build -p wxhost-tests --bin fake-model
	"$(CARGO_TARGET_DIR)/debug/fake-model" 127.0.0.1:8098 & model=$$!; \
	trap 'kill $$model' EXIT INT TERM; \
	WXHOST_LISTEN=$(WXHOST_LISTEN) WXHOST_REQUIRE_ENCRYPTION=$(WXHOST_REQUIRE_ENCRYPTION) \
	cargo run -p wxhost -- --config deploy/assistant-dev.toml serve

release:
	cargo build --release -p wxhost

# Every test: unit, property, plugin runtime, API (fake WeChat), end to end,
# the admin console (in a real browser), and a short soak (faults, hot replacement and kv writes under load).
# The admin console's browser test needs Debian's chromium and chromium-driver
# (scripts/setup-browser.sh installs them when missing).
test: plugins
	scripts/setup-redis.sh
	scripts/setup-browser.sh
	cargo build -p wxhost --bin wxhost
	cargo test
	cargo test -p wxhost-sdk
	SOAK_PROFILE=debug bench/soak.sh 15 8

lint: setup
	cargo fmt --all --check
	cargo clippy -p wxhost -p wxhost-tests --all-targets -- -D warnings

bench: plugins
	cargo bench -p wxhost

load:
	bench/load.sh

# bench/load.sh's new-push section only: first deliveries from a pre-signed
# corpus (every push new) vs the floor, with the server's CPU per push.
new-load:
	SECTIONS=new bench/load.sh

# bench/profile.sh: a perf profile of the echo under new pushes, top frames.
profile:
	bench/profile.sh

# bench/web.sh: a logged-in GET of the member plugin's page vs a bare axum page.
web-load:
	bench/web.sh

soak:
	bench/soak.sh
