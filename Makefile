# guoziyun - plain Makefile with -MMD dependencies (redis style).
#   make            build build/gzy (release, -O2)
#   make run        install missing build deps, build, start gzy serve on the embedded default
#   make test       unit + integration tests (server under ASan+UBSan); ends "N passed, N failed"
#   make test-unit / test-integration / check / lint / format / fuzz
#   make SANITIZER=address,undefined   build under sanitizers into build/san/

CC      ?= cc
SANITIZER ?=
PKGS    := libuv sqlite3 openssl libcurl expat libcjson
DEP_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
DEP_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lisal -lpthread -lm
LLHTTP_DIR := /usr/share/llhttp
LLHTTP_INC := /usr/share/include/llhttp

WARN    := -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter -Wstrict-prototypes \
           -Wmissing-prototypes -Wpointer-arith -Wformat=2
CFLAGS_BASE := -std=c11 -D_GNU_SOURCE -g -fno-strict-aliasing -I src -I $(LLHTTP_INC) $(DEP_CFLAGS)

ifeq ($(SANITIZER),)
  BUILD   := build
  OPT     := -O2
  SANFLAGS:=
else
  BUILD   := build/san
  OPT     := -O1 -fno-omit-frame-pointer
  SANFLAGS:= -fsanitize=$(SANITIZER) -fno-sanitize-recover=all -DGZ_TESTING=1
endif

CFLAGS  := $(CFLAGS_BASE) $(OPT) $(SANFLAGS) $(WARN) $(EXTRA_CFLAGS)
LDFLAGS := $(SANFLAGS)

# Layers, lowest first (STYLE.md); each a folder under src/.
SRC_UTIL  := $(wildcard src/util/*.c)
SRC_HTTP  := $(wildcard src/http/*.c)
SRC_STORE := $(wildcard src/store/*.c src/store/local/*.c)
SRC_IAM   := $(wildcard src/iam/*.c)
SRC_S3    := $(wildcard src/s3/*.c)
SRC_ADMIN := $(wildcard src/admin/*.c)
SRC_MIGRATE := $(wildcard src/migrate/*.c)
SRC_REGISTRY := $(wildcard src/registry/*.c)
SRC_CONSOLE := $(wildcard src/console/*.c)
SRC_CLI   := $(wildcard src/cli/*.c)
SRC_BENCH := $(wildcard src/bench/*.c)
SRC_LIB   := $(SRC_UTIL) $(SRC_HTTP) $(SRC_STORE) $(SRC_IAM) $(SRC_S3) $(SRC_MIGRATE) $(SRC_REGISTRY) \
             $(SRC_ADMIN) $(SRC_CONSOLE) $(SRC_BENCH) $(SRC_CLI)
SRC_LLHTTP:= $(LLHTTP_DIR)/api.c $(LLHTTP_DIR)/http.c $(LLHTTP_DIR)/llhttp.c

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))
OBJ_LIB    := $(call obj,$(SRC_LIB))

# The web console (console/, npm) is built and embedded as one generated C file of byte
# arrays (scripts/console-assets.sh); without npm the table is empty and /console says so.
CONSOLE_GEN := build/gen/console_assets.c
CONSOLE_INPUTS := $(shell find console -path console/node_modules -prune -o -path console/dist \
                    -prune -o -type f -print 2>/dev/null) scripts/console-assets.sh
OBJ_GEN    := $(BUILD)/obj/gen/console_assets.o
OBJ_LLHTTP := $(patsubst $(LLHTTP_DIR)/%.c,$(BUILD)/obj/llhttp/%.o,$(SRC_LLHTTP))

# Unit tests: each links only the layers it tests (so a layer can be tested alone).
UNIT_TESTS := $(patsubst tests/unit/%.c,%,$(wildcard tests/unit/test_*.c))
UNIT_DEPS_test_util  := $(SRC_UTIL)
UNIT_DEPS_test_http  := $(SRC_UTIL) $(SRC_HTTP)
UNIT_DEPS_test_store := $(SRC_UTIL) $(SRC_STORE)
UNIT_DEPS_test_auth  := $(SRC_UTIL) $(SRC_STORE) $(SRC_IAM) $(SRC_HTTP) src/s3/auth.c src/s3/sigv4.c \
                        src/s3/sigv2.c src/s3/payload.c src/s3/errors.c
UNIT_DEPS_test_s3_list := $(SRC_UTIL) src/s3/list_util.c
UNIT_DEPS_test_audit := $(SRC_UTIL) $(wildcard src/iam/audit*.c)
UNIT_DEPS_test_iam := $(SRC_UTIL) $(SRC_STORE) $(SRC_IAM)
UNIT_DEPS_test_fsck := $(SRC_UTIL) $(SRC_STORE)
UNIT_DEFAULT_DEPS    := $(SRC_LIB)

.PHONY: all run test test-unit test-integration check lint format fuzz fuzz-bins clean deps san bench

all: $(BUILD)/gzy

$(BUILD)/gzy: $(BUILD)/obj/src/main.o $(OBJ_LIB) $(OBJ_GEN) $(OBJ_LLHTTP)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(DEP_LIBS)

# V=1 shows the full commands.
ifeq ($(V),1)
  Q :=
else
  Q := @
endif

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(CONSOLE_GEN): $(CONSOLE_INPUTS)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  GEN     $@")
	$(Q)bash scripts/console-assets.sh $@

$(OBJ_GEN): $(CONSOLE_GEN)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CFLAGS_BASE) $(OPT) $(SANFLAGS) -I src -c $< -o $@

$(BUILD)/obj/llhttp/%.o: $(LLHTTP_DIR)/%.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CFLAGS_BASE) $(OPT) $(SANFLAGS) -w -c $< -o $@

define unit_rule
$(BUILD)/tests/$(1): $(BUILD)/obj/tests/unit/$(1).o $(call obj,$(if $(UNIT_DEPS_$(1)),$(UNIT_DEPS_$(1)),$(UNIT_DEFAULT_DEPS))) $(if $(UNIT_DEPS_$(1)),,$(OBJ_GEN)) $(OBJ_LLHTTP)
	@mkdir -p $$(dir $$@)
	@$$(if $$(Q),echo "  LD      $$@")
	$$(Q)$$(CC) $$(LDFLAGS) -o $$@ $$^ $$(DEP_LIBS)
endef
$(foreach t,$(UNIT_TESTS),$(eval $(call unit_rule,$(t))))

unit-bins: $(addprefix $(BUILD)/tests/,$(UNIT_TESTS))

deps:
	@bash scripts/deps.sh

run: deps
	@$(MAKE) --no-print-directory all
	./build/gzy serve $(GZY_ARGS)

san:
	@$(MAKE) --no-print-directory SANITIZER=address,undefined all unit-bins

# `make test`: release build + sanitizer build; unit tests under both, integration against the
# sanitized server. tests/run.py prints the one closing line "N passed, N failed".
test:
	@$(MAKE) --no-print-directory all unit-bins
	@$(MAKE) --no-print-directory san
	python3 tests/run.py --build build --san-build build/san $(TEST_ARGS)

test-unit:
	@$(MAKE) --no-print-directory all unit-bins
	python3 tests/run.py --build build --only unit

test-integration:
	@$(MAKE) --no-print-directory all
	python3 tests/run.py --build build --only integration $(TEST_ARGS)

check: lint test

lint:
	@bash scripts/lint-layers.sh

format:
	clang-format -i $(SRC_LIB) src/main.c $(wildcard src/*/*.h src/*/*/*.h) tests/unit/*.c

# `make fuzz`: libFuzzer targets (tests/fuzz/, see its README) built with clang under
# ASan+UBSan into build/fuzz/, each run FUZZ_SECONDS on a copy of its seed corpus.
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 60
FUZZ_TARGETS := fuzz_http fuzz_sigv4 fuzz_chunked fuzz_xml fuzz_query
FUZZ_FLAGS   := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
                -fno-sanitize-recover=all -DGZ_TESTING=1
FUZZ_WARN    := $(WARN) -Wno-format-nonliteral
FUZZ_SRC_S3AUTH := $(SRC_UTIL) $(SRC_STORE) $(SRC_IAM) $(SRC_HTTP) src/s3/auth.c src/s3/sigv4.c \
                   src/s3/sigv2.c src/s3/payload.c src/s3/errors.c
FUZZ_DEPS_fuzz_http    := $(SRC_UTIL) $(filter-out src/http/conn.c,$(SRC_HTTP)) $(SRC_LLHTTP)
FUZZ_DEPS_fuzz_sigv4   := $(FUZZ_SRC_S3AUTH) $(SRC_LLHTTP)
FUZZ_DEPS_fuzz_chunked := $(FUZZ_SRC_S3AUTH) $(SRC_LLHTTP)
# router.c (s3__query_parse, s3__key_check) pulls in every handler, hence the whole s3 layer.
FUZZ_SRC_S3ALL := $(SRC_UTIL) $(SRC_HTTP) $(SRC_STORE) $(SRC_IAM) $(SRC_S3) $(SRC_LLHTTP)
FUZZ_DEPS_fuzz_xml     := $(FUZZ_SRC_S3ALL)
FUZZ_DEPS_fuzz_query   := $(FUZZ_SRC_S3ALL)
fuzz_obj = $(patsubst %.c,build/fuzz/obj/%.o,$(subst $(LLHTTP_DIR)/,llhttp/,$(1)))

build/fuzz/obj/llhttp/%.o: $(LLHTTP_DIR)/%.c
	@mkdir -p $(dir $@)
	$(Q)$(FUZZ_CC) $(CFLAGS_BASE) $(FUZZ_FLAGS) -fsanitize=fuzzer-no-link -w -c $< -o $@

build/fuzz/obj/tests/fuzz/%.o: tests/fuzz/%.c
	@mkdir -p $(dir $@)
	$(Q)$(FUZZ_CC) $(CFLAGS_BASE) $(FUZZ_FLAGS) -fsanitize=fuzzer-no-link $(FUZZ_WARN) -MMD -MP \
	    -c $< -o $@

build/fuzz/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(Q)$(FUZZ_CC) $(CFLAGS_BASE) $(FUZZ_FLAGS) -fsanitize=fuzzer-no-link $(FUZZ_WARN) -MMD -MP \
	    -c $< -o $@

define fuzz_rule
build/fuzz/$(1): build/fuzz/obj/tests/fuzz/$(1).o $(call fuzz_obj,$(FUZZ_DEPS_$(1)))
	$$(Q)$$(FUZZ_CC) $$(FUZZ_FLAGS) -fsanitize=fuzzer -o $$@ $$^ $$(DEP_LIBS)
endef
$(foreach t,$(FUZZ_TARGETS),$(eval $(call fuzz_rule,$(t))))

fuzz-bins: $(addprefix build/fuzz/,$(FUZZ_TARGETS))

fuzz: fuzz-bins
	@bash tests/fuzz/run.sh $(FUZZ_SECONDS) $(FUZZ_TARGETS)

clean:
	rm -rf build

-include $(shell find build -name '*.d' 2>/dev/null)
