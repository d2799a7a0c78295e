// Compiles Boost.Asio, its SSL support and Boost.Beast once for the whole program
// (BOOST_ASIO_SEPARATE_COMPILATION / BOOST_BEAST_SEPARATE_COMPILATION keep them out of every other
// translation unit, which keeps builds on two cores bearable).
#include <boost/asio/impl/src.hpp>
#include <boost/asio/ssl/impl/src.hpp>
#include <boost/beast/src.hpp>
