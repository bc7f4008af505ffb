// The one header through which the project reaches Asio and Beast.
#pragma once

// Debian's Boost 1.81 with g++ 12 in C++20 needs <utility> before Asio (std::exchange).
#include <utility>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace eventstreams {
namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
}  // namespace eventstreams
