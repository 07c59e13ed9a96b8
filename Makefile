# make test   - the test suite (what CI runs); creates .venv on first use
# make run    - the main job: ./spark-submit.sh run-all on simulated data, local mode
# make bench  - every benchmark script (prints figures, writes benchmarks/results/)
.PHONY: test run bench clean
test:
	@py=$$(scripts/bootstrap.sh) && $$py -m pytest

run:
	./spark-submit.sh run-all

bench:
	@py=$$(scripts/bootstrap.sh) && for b in benchmarks/bench_*.py; do $$py $$b || exit 1; done

clean:
	rm -rf dist build lake data reports .pytest_cache
