"""Every Ray address is checked within seconds (issue 22): something that
is not Ray (a plain HTTP server on a loopback port), ``auto`` with no
cluster, an address that is not a host:port, a host that does not resolve
and a port where nothing listens are each refused in one line with the fix,
never a wait of minutes in ``ray.init``. Servers here bind 127.0.0.1 only."""
from __future__ import annotations

import http.server
import socket
import threading

import pytest

pytest.importorskip("ray", reason="Ray is not installed (pip install \"cnnviz[ray]\"; CI installs it)")

from cnnviz.cli import main  # noqa: E402
from cnnviz.common.errors import CnnvizError  # noqa: E402
from cnnviz.jobs import ray_engine  # noqa: E402


class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):          # the server's own log is not cnnviz's output
        pass


@pytest.fixture(scope="module")
def http_port():
    """A plain HTTP server on a free loopback port: it answers, but not as Ray."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def closed_port():
    """A loopback port nobody listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def silent_port():
    """A loopback port that accepts connections and never says a word."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    yield listener.getsockname()[1]
    listener.close()


# (address, or a fixture's port as {}, the message)
CASES = {
    "plain HTTP server": ("127.0.0.1:{http}", "not as Ray"),
    "silent listener": ("127.0.0.1:{silent}", "not as Ray"),
    "nothing listening": ("127.0.0.1:{closed}", "no Ray cluster answers"),
    "not a host": ("not a host!:6379", "is not a host:port"),
    "port not a number": ("127.0.0.1:http", "is not a host:port"),
    "port out of range": ("127.0.0.1:70000", "is not a host:port"),
    "empty host": (":6379", "is not a host:port"),
    "host that does not resolve": ("no-such-host.invalid:6379", "does not resolve"),
}


@pytest.fixture
def ports(http_port, closed_port, silent_port):
    return {"http": http_port, "closed": closed_port, "silent": silent_port}


@pytest.mark.parametrize("case", list(CASES))
def test_an_address_that_is_not_ray_is_refused_with_the_fix(ports, case):
    address, message = CASES[case]
    with pytest.raises(CnnvizError, match=message):
        ray_engine.check_reachable(address.format(**ports), timeout=2)


@pytest.mark.parametrize("case", ["plain HTTP server", "not a host", "nothing listening"])
def test_the_cli_says_it_in_one_line(capsys, ports, small_cnn, image_folder, tmp_path, case):
    model = tmp_path / "m.keras"
    small_cnn.save(model)
    address, message = CASES[case]
    code = main(["top-patches", str(model), "--layer", "conv2", "--dataset", str(image_folder), "--engine", "ray",
                 "--address", address.format(**ports), "-o", str(tmp_path / "t.png")])
    err = capsys.readouterr().err
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "t.png").exists()


def test_auto_with_no_cluster_is_refused(monkeypatch):
    from ray._private import services

    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    monkeypatch.setattr(services, "find_gcs_addresses", lambda: [])          # as Ray finds on a machine without one
    monkeypatch.setattr(services, "find_bootstrap_address", lambda temp_dir=None: None)
    with pytest.raises(CnnvizError, match="--address auto: no Ray cluster is running on this machine"):
        ray_engine.check_reachable("auto")


def test_auto_follows_ray_address_and_checks_it(monkeypatch, http_port):
    monkeypatch.setenv("RAY_ADDRESS", f"127.0.0.1:{http_port}")
    with pytest.raises(CnnvizError, match="not as Ray"):
        ray_engine.check_reachable("auto", timeout=2)


@pytest.mark.parametrize("address,expected", [("10.0.0.5:6379", ("10.0.0.5", 6379)), ("head:7000", ("head", 7000)),
                                              ("ray://head:10001", ("head", 10001)), ("[::1]:6379", ("::1", 6379)),
                                              ("headnode", ("headnode", 6379))])
def test_good_addresses_parse(address, expected):
    assert ray_engine.parse_address(address) == expected
