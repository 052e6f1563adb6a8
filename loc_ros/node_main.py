"""`loc_node` entry point (`ros2 run loc_ros loc_node --ros-args --params-file config/loc.yaml`).

Startup problems (missing or corrupt checkpoint, bad model config, bad calibration file, invalid
parameters) print one line `loc_node: <cause>` to stderr and exit with status 2. SIGINT and SIGTERM
stop the executor, the worker thread and the node cleanly (exit status 0)."""
from __future__ import annotations

import sys

EXIT_STARTUP_FAILED = 2


def main(argv: list[str] | None = None) -> int:
    import rclpy
    from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor

    from loc_ros.predictor_backend import StartupError

    rclpy.init(args=argv if argv is not None else sys.argv)  # handles SIGINT and SIGTERM
    try:
        from loc_ros.node import LocNode

        node = LocNode()
    except StartupError as exc:
        print(f'loc_node: {exc}', file=sys.stderr, flush=True)
        rclpy.try_shutdown()
        return EXIT_STARTUP_FAILED
    executor = MultiThreadedExecutor(num_threads=3)
    executor.add_node(node)
    try:
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        node.get_logger().info('shutting down')
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == '__main__':
    sys.exit(main())
