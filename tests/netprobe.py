# netprobe.py PORT SOCKET - a render that tries the network: a UDP
# datagram to 127.0.0.1:PORT and a connect() to the Unix socket SOCKET,
# each reported as "ESCAPED what" when it got through, "blocked what"
# otherwise (the listener's record is what the test believes).
import socket, sys

def attempt(what, fn):
    try:
        fn()
        print("ESCAPED", what, flush=True)
    except OSError as e:
        print("blocked", what, "(%s)" % e.strerror, flush=True)

def udp():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.sendto(b"hello from a render", ("127.0.0.1", int(sys.argv[1])))

def unix():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(sys.argv[2])
    s.sendall(b"hello from a render")

attempt("a UDP datagram to 127.0.0.1", udp)
attempt("a connect() to a path-named Unix socket", unix)
