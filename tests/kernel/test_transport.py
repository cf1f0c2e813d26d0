"""The kernel honours the connection file's transport: ipc as well as tcp."""
from __future__ import annotations

import os

from jupyter_client.manager import KernelManager


def test_ipc_transport_serves_shell_control_and_heartbeat(tmp_path) -> None:
    km = KernelManager(kernel_name="kubernel", transport="ipc")
    km.ip = str(tmp_path / "kernel")  # ipc endpoints are <ip>-<port> paths
    km.start_kernel()
    kc = km.client()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=30)
        info = km.get_connection_info()
        assert info["transport"] == "ipc"
        assert os.path.exists(f"{info['ip']}-{info['shell_port']}"), "no ipc socket file for the shell"
        reply = kc.execute_interactive("%lsmagic", timeout=30, output_hook=lambda m: None)
        assert reply["content"]["status"] == "ok"
        assert kc.hb_channel.is_beating()
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=False)
    assert not km.is_alive()
