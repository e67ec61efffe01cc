# A NOTIFY_SOCKET of the test's own: prints every sd_notify datagram it receives, one per line.
import socket
import sys

s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
print("listening", flush=True)
while True:
    data = s.recv(65536)
    print(data.decode("utf-8", "replace").replace("\n", "|"), flush=True)
