// The Boost.Asio peer: the echo server Asio's own examples teach, on one io_context run by one thread.
//
//   asio_echo_server [--port 7000] [--host 0.0.0.0]
//
// Per connection a 64 KiB buffer, async_read_some, then async_write of what arrived, then the next read
// (the same discipline as the other servers of the comparison). Asio's default reactor on Linux is epoll.
// SIGINT/SIGTERM stop it (asio::signal_set); it prints what it served.
#include <boost/asio.hpp>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

namespace asio = boost::asio;
using asio::ip::tcp;

namespace {

unsigned long long accepted, bytes_echoed;

class Session : public std::enable_shared_from_this<Session> {
public:
    explicit Session(tcp::socket s) : sock_(std::move(s)) {}
    void Start() { Read(); }

private:
    void Read()
    {
        auto self = shared_from_this();
        sock_.async_read_some(asio::buffer(buf_, sizeof buf_), [this, self](boost::system::error_code ec, size_t n) {
            if (ec)
                return; // end of stream or error: the last reference goes and the socket closes
            bytes_echoed += n;
            asio::async_write(sock_, asio::buffer(buf_, n), [this, self](boost::system::error_code wec, size_t) {
                if (!wec)
                    Read();
            });
        });
    }

    tcp::socket sock_;
    char buf_[64 * 1024];
};

void Accept(tcp::acceptor &acceptor)
{
    acceptor.async_accept([&acceptor](boost::system::error_code ec, tcp::socket s) {
        if (!acceptor.is_open())
            return;
        if (!ec) {
            boost::system::error_code ignored;
            s.set_option(tcp::no_delay(true), ignored);
            accepted++;
            std::make_shared<Session>(std::move(s))->Start();
        }
        Accept(acceptor);
    });
}

} // namespace

int main(int argc, char **argv)
{
    int port = 7000;
    std::string host = "0.0.0.0";
    for (int i = 1; i < argc; i++) {
        if (i + 1 < argc && !std::strcmp(argv[i], "--port"))
            port = std::atoi(argv[++i]);
        else if (i + 1 < argc && !std::strcmp(argv[i], "--host"))
            host = argv[++i];
        else {
            std::fprintf(stderr, "usage: asio_echo_server [--port 7000] [--host 0.0.0.0]\n");
            return 2;
        }
    }
    boost::system::error_code ec;
    auto addr = asio::ip::make_address(host, ec);
    if (ec) {
        std::fprintf(stderr, "asio_echo_server: \"%s\" is not a numeric address\n", host.c_str());
        return 2;
    }
    asio::io_context io(1); // concurrency hint 1: one thread runs it
    tcp::acceptor acceptor(io);
    tcp::endpoint ep(addr, (unsigned short)port);
    acceptor.open(ep.protocol(), ec);
    if (!ec)
        acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec)
        acceptor.bind(ep, ec);
    if (!ec)
        acceptor.listen(511, ec);
    if (ec) {
        std::fprintf(stderr, "asio_echo_server: cannot listen on %s port %d: %s\n", host.c_str(), port,
                     ec.message().c_str());
        return 1;
    }
    asio::signal_set signals(io, SIGINT, SIGTERM);
    signals.async_wait([&](boost::system::error_code, int) { io.stop(); });
    Accept(acceptor);
    std::printf("asio_echo_server: Boost.Asio %d.%d.%d, 1 io_context thread, listening on %s:%d\n",
                BOOST_ASIO_VERSION / 100000, BOOST_ASIO_VERSION / 100 % 1000, BOOST_ASIO_VERSION % 100, host.c_str(),
                port);
    std::fflush(stdout);
    io.run();
    std::printf("asio_echo_server: stopped; %llu connections served, %llu bytes echoed\n", accepted, bytes_echoed);
    return 0;
}
