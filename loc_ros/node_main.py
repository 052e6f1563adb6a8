"""`loc_node` entry point (`ros2 run loc_ros loc_node --ros-args --params-file config/loc.yaml`).

Startup problems (missing or corrupt checkpoint, bad model config, bad calibration file, invalid
parameters) print one line `loc_node: <cause>` to stderr and exit with status 2. SIGINT and SIGTERM
(also while the model is still loading) stop the executor, the worker threads and the node cleanly
(exit status 0)."""
from __future__ import annotations

import gc
import sys

EXIT_STARTUP_FAILED = 2


def _build_node():
    """The LocNode, or None when a signal ended the startup."""
    import rclpy

    from loc_ros.node import LocNode

    try:
        return LocNode()
    except KeyboardInterrupt:
        return None
    except Exception:
        if not rclpy.ok():  # SIGTERM shut the context down under the half-built node
            return None
        raise


def main(argv: list[str] | None = None) -> int:
    import rclpy
    from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor

    rclpy.init(args=argv if argv is not None else sys.argv)  # handles SIGINT and SIGTERM from here on
    print('loc_node: starting: loading the model', flush=True)  # stdout: errors alone go to stderr
    from loc_ros.predictor_backend import StartupError  # imports torch (seconds): after the signal handlers

    try:
        node = _build_node()
    except StartupError as exc:
        print(f'loc_node: {exc}', file=sys.stderr, flush=True)
        rclpy.try_shutdown()
        return EXIT_STARTUP_FAILED
    if node is None:
        print('loc_node: stopped during startup', file=sys.stderr, flush=True)
        rclpy.try_shutdown()
        return 0
    executor = MultiThreadedExecutor(num_threads=3)
    executor.add_node(node)
    try:
        node.get_logger().info('ready')
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except Exception:
        if rclpy.ok():
            raise
        # SIGTERM shut the context down while the executor was building its wait set
    finally:
        print('loc_node: shutting down', file=sys.stderr, flush=True)
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown()
        # the interpreter's final garbage collections walk every object of torch and the model
        # (seconds on a busy machine: `ros2 launch` escalates to SIGTERM after 5 s); nothing of
        # ours needs them, so exclude what exists now from collection
        gc.freeze()
    return 0


if __name__ == '__main__':
    sys.exit(main())
