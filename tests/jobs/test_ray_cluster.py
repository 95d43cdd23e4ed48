"""The Ray engine on Ray's multi-node test helper: two simulated nodes on
this machine, joined by address as a real cluster is; results equal the
local engine's."""
from __future__ import annotations

import numpy as np
import pytest

ray = pytest.importorskip("ray", reason="Ray is not installed (pip install \"cnnviz[ray]\"; CI installs it)")


from cnnviz.common.errors import CnnvizError  # noqa: E402
from cnnviz.inside.top_patches import top_patches_files  # noqa: E402
from cnnviz.jobs.ray_engine import connect, loopback_only  # noqa: E402


@pytest.fixture(scope="module")
def cluster():
    from ray.cluster_utils import Cluster

    loopback = {"node_ip_address": "127.0.0.1"}          # the simulated nodes listen on loopback only
    with loopback_only():
        nodes = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False, **loopback})
        nodes.add_node(num_cpus=1, **loopback)
        nodes.wait_for_nodes()
    yield nodes
    ray.shutdown()
    nodes.shutdown()


def test_two_nodes_equal_local(cluster, small_cnn, messy_folder):
    local = top_patches_files(small_cnn, messy_folder, ["conv2"], k=3, batch_size=4, cache=False)
    remote = top_patches_files(small_cnn, messy_folder, ["conv2"], k=3, batch_size=4, cache=False, engine="ray",
                               workers=2, address=cluster.address)
    assert len(ray.nodes()) == 2          # two actors of one CPU each on two one-CPU nodes: one per node
    assert cluster.address.startswith("127.0.0.1:")
    assert {n["NodeManagerAddress"] for n in ray.nodes()} == {"127.0.0.1"}    # dialled and joined on loopback
    for field in ("values", "image_index", "position", "boxes"):
        np.testing.assert_array_equal(getattr(remote.layers["conv2"], field), getattr(local.layers["conv2"], field))
    assert remote.files == local.files and remote.report == local.report


def test_another_address_than_the_one_joined_is_refused(cluster):
    assert connect(address=cluster.address).is_initialized()          # joined by the test above, or here
    with pytest.raises(CnnvizError, match="already runs its Ray jobs on the Ray cluster at 127.0.0.1:.*new process"):
        connect(address="127.0.0.1:1")
    assert len(ray.nodes()) == 2                                     # still the cluster joined
