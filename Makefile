# Thin wrapper over CMake for people who don't want to learn the build.
#   make            build the library, tools and examples (build/)
#   make test       install missing Debian packages (as root), build, run the tests
#   make test-asan  the tests under AddressSanitizer + UBSan (build-asan/)
#   make test-tsan  the concurrency tests under ThreadSanitizer (build-tsan/)
#   make demo       build and run examples/quickstart.c
#   make python     build libtind.so and import the Python binding (python/) with it
#   make clang      build with clang; make release: gcc -O3 (both warnings as errors)
#   make fuzz       run every libFuzzer target for FUZZ_SECONDS each (clang)
#   make stress     every tind-stress campaign for STRESS_SECONDS each (kill points on, build-stress/)
#   make replication-campaign  REPLICATION_ROUNDS (20) kill-the-leader rounds of
#                   examples/replicated (three raft nodes on loopback; docs/REPLICATION.md)
#   make install    PREFIX=/usr/local DESTDIR=
#   make install-strip  the same, stripped; debug info in PREFIX/lib/debug/.build-id
# `make`/`make build` need only gcc (scripts/deps.sh build); the targets that
# run tests or use clang install the rest (scripts/deps.sh all).
# one line per stage (== ...), then the compiler's and CMake's own output:
# no "Entering directory" from the make CMake runs, no list of installed files
MAKEFLAGS += --no-print-directory
JOBS     ?= $(shell nproc 2>/dev/null || echo 2)
PREFIX   ?= /usr/local
FUZZ_SECONDS ?= 60
STRESS_SECONDS ?= 600
CMAKE    ?= cmake
CTEST_ARGS ?= --output-on-failure -j$(JOBS)

.PHONY: all deps deps-build build test install-strip test-asan test-tsan demo python fuzz install clean clang release stress coverage bench bench-full replication-campaign

all: build

deps:
	@sh scripts/deps.sh all

deps-build:
	@sh scripts/deps.sh build

build: deps-build
	@echo "== build (build/, RelWithDebInfo)"
	@$(CMAKE) -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_INSTALL_PREFIX=$(PREFIX) \
	    -DCMAKE_INSTALL_MESSAGE=NEVER >/dev/null
	@$(CMAKE) --build build -j$(JOBS)

# deps first, then build: CI's later stages (make clang, test-tsan) rely on
# `make test` having installed clang too.
test: deps
	@$(MAKE) build
	@echo "== test (build/)"
	@cd build && ctest $(CTEST_ARGS)

test-asan: deps
	@echo "== test-asan (build-asan/, ASan + UBSan)"
	@$(CMAKE) -S . -B build-asan -DCMAKE_BUILD_TYPE=Asan -DTIND_TOOLS=ON >/dev/null
	@$(CMAKE) --build build-asan -j$(JOBS)
	@cd build-asan && TIND_TEST_SCALE=$${TIND_TEST_SCALE:-0.1} ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 ctest $(CTEST_ARGS)

test-tsan: deps
	@echo "== test-tsan (build-tsan/, TSan, tests labelled tsan)"
	@$(CMAKE) -S . -B build-tsan -DCMAKE_BUILD_TYPE=Tsan -DCMAKE_C_COMPILER=clang >/dev/null
	@$(CMAKE) --build build-tsan -j$(JOBS)
	@cd build-tsan && TIND_TEST_SCALE=$${TIND_TEST_SCALE:-0.5} TSAN_OPTIONS=halt_on_error=1 ctest $(CTEST_ARGS) -L tsan

# The same sources built with clang, warnings as errors.
clang: deps
	@echo "== clang (build-clang/)"
	@$(CMAKE) -S . -B build-clang -DCMAKE_C_COMPILER=clang >/dev/null
	@$(CMAKE) --build build-clang -j$(JOBS)

# A gcc -O3 build (Release): its deeper inlining finds warnings -O2 does not.
release: deps
	@echo "== release (build-release/, gcc -O3)"
	@$(CMAKE) -S . -B build-release -DCMAKE_BUILD_TYPE=Release >/dev/null
	@$(CMAKE) --build build-release -j$(JOBS)

# examples/replicated/campaign.py: REPLICATION_ROUNDS rounds of three raft
# nodes on the loopback interface, the leader SIGKILLed at a random time;
# prints each round's figures and a summary line (docs/REPLICATION.md).
REPLICATION_ROUNDS ?= 20
replication-campaign: deps
	@$(MAKE) build
	@echo "== replication-campaign ($(REPLICATION_ROUNDS) rounds)"
	@/usr/bin/python3 examples/replicated/campaign.py --node build/examples/replicated/tind-kvnode \
	    --rounds $(REPLICATION_ROUNDS) --dir build/replication-campaign --json build/replication-campaign.json \
	    $(REPLICATION_ARGS)

# The long campaigns of tools/tind-stress, each for STRESS_SECONDS, in a build
# with the engine's kill points compiled in; each prints one "figures:" line
# (docs/RELIABILITY.md). STRESS_ARGS adds flags (e.g. --seed 42).
STRESS := ./build-stress/tools/tind-stress/tind-stress
stress: deps
	@$(CMAKE) -S . -B build-stress -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTIND_KILL_POINTS=ON >/dev/null
	@$(CMAKE) --build build-stress -j$(JOBS) --target tind-stress
	$(STRESS) kill --seconds $(STRESS_SECONDS) $(STRESS_ARGS)
	$(STRESS) kill --power-loss --seconds $(STRESS_SECONDS) $(STRESS_ARGS)
	$(STRESS) concurrent --seconds $(STRESS_SECONDS) $(STRESS_ARGS)
	$(STRESS) faults --seconds $(STRESS_SECONDS) $(STRESS_ARGS)
	$(STRESS) corrupt --seconds $(STRESS_SECONDS) $(STRESS_ARGS)

demo: build
	./build/quickstart ./quickstart-db

# The Python binding is pure Python (cffi in ABI mode): building it is
# building libtind.so; the smoke test imports it with Debian's python3 and
# round-trips a key. `pip install ./python` installs the package itself.
PYTHON ?= /usr/bin/python3
python: deps
	@$(CMAKE) -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_INSTALL_PREFIX=$(PREFIX) >/dev/null
	@$(CMAKE) --build build -j$(JOBS) --target tind_shared
	@TIND_LIBRARY=$(CURDIR)/build/libtind.so PYTHONPATH=$(CURDIR)/python PYTHONDONTWRITEBYTECODE=1 $(PYTHON) -c \
	    'import tempfile, tind; d = tempfile.TemporaryDirectory(); db = tind.Database(d.name + "/db"); \
	     ks = db.keyspace(); ks[b"k"] = b"v"; assert ks[b"k"] == b"v"; db.close(); \
	     print("python binding: tind", tind.version(), "from", tind.__file__)'

# tind-bench side by side with the peers found at build time: the table on
# stdout, JSON lines in bench-results/, charts beside them when gnuplot is
# installed. BENCH_ARGS adds flags (e.g. BENCH_ARGS="--engines tind,rocksdb").
bench: build
	@mkdir -p bench-results
	@f=bench-results/quick-$$(date +%Y%m%d-%H%M%S).jsonl; \
	./build/tools/tind-bench/tind-bench --profile quick --dir build/bench-data --json $$f $(BENCH_ARGS); rc=$$?; \
	if command -v gnuplot >/dev/null 2>&1 && [ -s $$f ]; then sh tools/tind-bench/charts.sh $$f; fi; \
	echo "results: $$f"; exit $$rc

bench-full: build
	@mkdir -p bench-results
	@f=bench-results/full-$$(date +%Y%m%d-%H%M%S).jsonl; \
	./build/tools/tind-bench/tind-bench --profile full --keep --dir build/bench-data --json $$f $(BENCH_ARGS); rc=$$?; \
	if command -v gnuplot >/dev/null 2>&1 && [ -s $$f ]; then sh tools/tind-bench/charts.sh $$f; fi; \
	echo "results: $$f"; exit $$rc

fuzz: deps
	@$(CMAKE) -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DTIND_FUZZ=ON -DTIND_TOOLS=OFF -DTIND_TESTS=OFF \
	    -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_FLAGS="-O1 -fsanitize=fuzzer-no-link,address,undefined" >/dev/null
	@$(CMAKE) --build build-fuzz -j$(JOBS)
	@for f in build-fuzz/fuzz_*; do \
	    t=$$(basename $$f | sed 's/^fuzz_//'); \
	    mkdir -p build-fuzz/corpus-$$t; \
	    echo "== fuzz $$t for $(FUZZ_SECONDS)s"; \
	    $$f -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 build-fuzz/corpus-$$t fuzz/corpus/$$t 2>&1 | \
	        grep -E 'stat::number_of_executed_units|ERROR|SUMMARY' ; \
	done

# Line and branch coverage of src/ (tests/, fuzz/ and tools/ left out) over
# the whole test run, in a gcov build (build-cov/); the HTML report goes to
# build-cov/coverage/index.html. Fails when a test fails, after the report.
# Warnings stay warnings here: gcc -O0 flags things -O2 does not.
LCOV := lcov --quiet --rc lcov_branch_coverage=1
coverage: deps
	@sh scripts/deps.sh coverage
	@$(CMAKE) -S . -B build-cov -DCMAKE_BUILD_TYPE=Coverage -DTIND_WERROR=OFF >/dev/null
	@$(CMAKE) --build build-cov -j$(JOBS)
	@$(LCOV) --zerocounters --directory build-cov
	@cd build-cov && { ctest $(CTEST_ARGS); echo $$? > ctest.rc; }
	@$(LCOV) --capture --directory build-cov --output-file build-cov/all.info
	@$(LCOV) --extract build-cov/all.info '$(CURDIR)/src/*' --output-file build-cov/src.info
	@genhtml --quiet --rc lcov_branch_coverage=1 --branch-coverage --output-directory build-cov/coverage build-cov/src.info
	@echo "== coverage of src/ (report: build-cov/coverage/index.html)"
	@lcov --rc lcov_branch_coverage=1 --summary build-cov/src.info 2>&1 | grep -E 'lines|functions|branches'
	@exit $$(cat build-cov/ctest.rc)

install: build
	@echo "== install $(DESTDIR)$(PREFIX)"
	@DESTDIR=$(DESTDIR) $(CMAKE) --install build --prefix $(PREFIX)

# make install, then libtind.so and tind stripped, each with its debug info
# in $(PREFIX)/lib/debug/.build-id/xx/yyyy.debug and a .gnu_debuglink to it;
# libtind.a loses its debug sections (scripts/split_debug.sh).
install-strip: install
	@echo "== strip $(DESTDIR)$(PREFIX) (debug info to lib/debug/.build-id)"
	@sh scripts/split_debug.sh $(DESTDIR)$(PREFIX) \
	    $$(sed -n 's/^CMAKE_INSTALL_LIBDIR:PATH=//p' build/CMakeCache.txt) \
	    $$(sed -n 's/^CMAKE_INSTALL_BINDIR:PATH=//p' build/CMakeCache.txt) >/dev/null

clean:
	rm -rf build build-asan build-tsan build-clang build-release build-fuzz build-cov build-stress
