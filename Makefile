# Reelsmith: `make demo` and `make test` do all set-up on a fresh machine.
SHELL := /bin/bash
DEMO_PROMPT := neon city at night, rain, synthwave

.PHONY: demo test bench deps release clean

deps:
	@scripts/install-deps.sh

release: deps
	swift build -c release --product reelsmith

demo: release
	@mkdir -p out
	@python3 scripts/make_demo_track.py out/demo-song.wav
	@.build/release/reelsmith generate "$(DEMO_PROMPT)" --audio out/demo-song.wav --out out/demo.mp4 --seed 7 >/dev/null
	@echo "$(CURDIR)/out/demo.mp4"

test: deps
	@scripts/test.sh

bench: deps
	@bash benchmarks/run.sh
	@bash benchmarks/beats/run.sh
	@bash benchmarks/providers/run.sh
	@bash benchmarks/service/run.sh
	@bash benchmarks/draw/run.sh

clean:
	rm -rf .build out
