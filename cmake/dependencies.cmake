# Third-party libraries, all from Debian 12 packages (scripts/install-deps).
find_package(Threads REQUIRED)
find_package(Boost 1.81 REQUIRED)
find_package(PkgConfig REQUIRED)
pkg_check_modules(RDKAFKA REQUIRED IMPORTED_TARGET rdkafka)
pkg_check_modules(SYSTEMD REQUIRED IMPORTED_TARGET libsystemd)
pkg_check_modules(RE2 REQUIRED IMPORTED_TARGET re2)  # libre2-dev: =~ and !~ in filters
find_package(simdjson 3 CONFIG REQUIRED)  # libsimdjson-dev: filters read payload fields On-Demand
find_package(yaml-cpp REQUIRED)          # target: yaml-cpp (no namespace in 0.7)
find_package(nlohmann_json 3 REQUIRED)
find_package(spdlog REQUIRED)
find_package(fmt REQUIRED)
find_package(prometheus-cpp REQUIRED)
find_package(CURL 7.85 REQUIRED)         # libcurl4-openssl-dev: the stream config fetch
if(EVENTSTREAMS_BUILD_TESTS)
  find_package(GTest REQUIRED)
  find_package(OpenSSL REQUIRED)         # libssl-dev: the stream config tests' HTTPS server
endif()
