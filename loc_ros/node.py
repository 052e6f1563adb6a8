"""`LocNode`: synchronised LiDAR + cameras in, voxel markers and semantic grids out.

Flow: subscription callbacks (a mutually exclusive callback group per input topic: topics run in
parallel, each in order) stamp and synchronise the messages (`sync.py`) and put each matched set
into a one-slot buffer (`worker.py`). Three worker threads follow, each taking the newest item of
the one-slot buffer before it, so that one frame is decoded while the one before is predicted and
the one before that is drawn: `loc_decode` builds a `Frame` (`frame_builder.py`) and, where the
predictor can, prepares the network's frame-only inputs (`LocPredictor.prepare`), `loc_predict`
runs loc_core's predictor and publishes the dense grid, `loc_views` publishes the views made from
it (BEV, voxels, markers; `publishing.py`). A frame replaced in a buffer before its stage took it
is counted (`drop.busy` before the grid, `views_skipped` after it: its grid was published). Prompt
changes apply between frames (the predictor swaps them atomically). Bad input is dropped, counted
(see /diagnostics) and logged at most every few seconds per reason.

Time: outputs carry the stamps of their inputs. Latencies and the synchroniser's waiting times are
measured on the steady clock from when DDS received each message, and /diagnostics is published on a
steady-clock timer, so all three mean the same with `use_sim_time` (a bag's /clock may pause, jump
back or run at another rate); the /diagnostics header carries the node's clock (sim time then).
A jump in the input stamps (a looped or restarted bag, a restarted driver) resets the synchroniser
with one warning, counted in /diagnostics (`sync_resets`), and the next complete frame is served."""
from __future__ import annotations

import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.clock import Clock, ClockType
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from rcl_interfaces.msg import SetParametersResult
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, PointCloud2

from loc_core.data.calibration import CalibrationError, load_calibration
from loc_ros import parameters as P
from loc_ros.conversions import InputError, camera_info_to_k, stamp_to_ns
from loc_ros.diagnostics import PipelineStats, ThrottledLog, diagnostic_array
from loc_ros.frame_builder import build_frame, is_compressed_topic
from loc_ros.predictor_backend import (StartupError, apply_thresholds, load_predictor, model_thresholds,
                                       push_thresholds)
from loc_ros.publishing import OutputPublishers
from loc_ros.sync import ApproximateSynchronizer
from loc_ros.tf_calibration import StaticTransforms, topic_rig
from loc_ros.worker import LatestSlot, Worker

LIDAR = 'lidar'


# rclpy's MultiThreadedExecutor re-dispatches ready subscriptions in a Python loop (about 50-60
# dispatches per message under load, counted by wrapping wait_for_ready_callbacks) that holds the
# GIL for the interpreter's whole switch interval (5 ms) at a time; the worker thread re-acquires the
# GIL after every C call (JPEG decode, torch op, publish), so with the default it waited up to 5 ms
# each time: 0.5-1.6 s per frame instead of about 80 ms (bench/bench_node.py, nuScenes, 10 Hz).
# A 0.5 ms switch interval bounds that wait.
GIL_SWITCH_INTERVAL_S = 0.0005


class LocNode(Node):
    """The `loc_node` node. `predictor`: an object with predict(frame) and set_prompts(prompts);
    None builds loc_core's LocPredictor from the parameters. Raises StartupError on bad settings."""

    def __init__(self, predictor=None, node_name: str = 'loc_node', **node_kwargs):
        super().__init__(node_name, **node_kwargs)
        sys.setswitchinterval(min(sys.getswitchinterval(), GIL_SWITCH_INTERVAL_S))
        self.workers = []
        try:
            self._start(predictor)
        except StartupError:
            super().destroy_node()  # leave nothing half-built in the context
            raise

    def _start(self, predictor) -> None:
        try:
            self.settings = P.startup_settings(P.declare_all(self))
        except P.InvalidParameter as exc:
            raise StartupError(f'bad parameter: {exc}') from exc
        self.calibration, self.cameras = self._load_calibration()
        self.base_frame = self.settings['base_frame'] or self.calibration.base_frame
        self.stats = PipelineStats()
        self.log = ThrottledLog(self.get_logger(), period_s=3.0)
        self._prompts = self.settings['prompts']
        if predictor is None:
            predictor = load_predictor(self.settings, self.get_logger())
        else:
            predictor.set_prompts(list(self._prompts), P.prompt_class_ids(self._prompts))
        self.predictor = predictor
        model_defaults = model_thresholds(predictor)
        try:
            thresholds = P.declare_all(self, P.MODEL_DEFAULTED, model_defaults)
        except P.InvalidParameter as exc:
            raise StartupError(f'bad parameter: {exc}') from exc
        self.settings.update(thresholds)
        self._thresholds = (thresholds['unknown_threshold'], thresholds['score_threshold'])
        self._thresholds_in_model = push_thresholds(predictor, *self._thresholds)
        model_image_size = getattr(getattr(predictor, 'model', None), 'image_size', None)
        self._decode_size = None if self.settings['decode_full_resolution'] else model_image_size
        self._decode_pool = ThreadPoolExecutor(self.settings['decode_threads'], thread_name_prefix='loc_decode')
        self._sync_lock = threading.Lock()
        self.sync = ApproximateSynchronizer(
            LIDAR, [c.name for c in self.cameras], slop_ns=int(self.settings['sync_slop_s'] * 1e9),
            queue_size=self.settings['sync_queue_size'], max_wait_ns=int(self.settings['sync_max_wait_s'] * 1e9),
            jump_back_ns=int(self.settings['time_jump_threshold_s'] * 1e9),
            jump_forward_ns=int(self.settings['time_jump_forward_s'] * 1e9),
            allow_partial=self.settings['allow_missing_cameras'])
        self._camera_infos: dict = {}
        self.slot = LatestSlot()
        self.outputs = OutputPublishers(self, self.base_frame)
        self.outputs.publish_legend(self._prompts, P.prompt_class_ids(self._prompts))
        self._subscribe_inputs()
        self.prompt_slot = LatestSlot()
        self.prompt_worker = Worker(self.prompt_slot, self._apply_prompts, self._on_prompt_error, 'loc_prompts')
        self.prompt_worker.start()
        self.frame_slot, self.view_slot = LatestSlot(), LatestSlot()
        self.workers = [Worker(self.slot, self._decode, self._on_frame_error, 'loc_decode'),
                        Worker(self.frame_slot, self._predict, self._on_frame_error, 'loc_predict'),
                        Worker(self.view_slot, self._publish_views, self._on_frame_error, 'loc_views')]
        for worker in self.workers:
            worker.start()
        self.add_on_set_parameters_callback(self._validate_parameters)
        self.add_post_set_parameters_callback(self._apply_parameters)
        self._expire_timer = self.create_timer(max(self.settings['sync_max_wait_s'] / 2, 0.05), self._expire_waiting,
                                               callback_group=MutuallyExclusiveCallbackGroup(),
                                               clock=Clock(clock_type=ClockType.STEADY_TIME))
        # steady clock: /diagnostics keeps coming when a bag's /clock pauses or jumps (use_sim_time)
        self._diag_timer = self.create_timer(self.settings['diagnostics_period_s'], self._publish_diagnostics,
                                             callback_group=MutuallyExclusiveCallbackGroup(),
                                             clock=Clock(clock_type=ClockType.STEADY_TIME))

    # ---- startup ------------------------------------------------------------------------------
    def _load_calibration(self):
        """The rig from calibration_file, else from the topic parameters (extrinsics then come from
        /tf_static per frame, see tf_calibration.py)."""
        path, camera_topics = self.settings['calibration_file'], self.settings['camera_topics']
        if not path and not camera_topics:
            raise StartupError('set calibration_file (the rig calibration YAML) or camera_topics (extrinsics then '
                               'come from /tf_static, intrinsics from CameraInfo)')
        try:
            calibration = load_calibration(path) if path else \
                topic_rig(self.settings['lidar_topic'], camera_topics, self.settings['base_frame'])
        except (CalibrationError, ValueError) as exc:
            raise StartupError(str(exc).splitlines()[0]) from exc
        wanted = self.settings['camera_names']
        known = [c.name for c in calibration.cameras]
        unknown = [n for n in wanted if n not in known]
        if unknown:
            raise StartupError(f'camera_names {unknown} not in the calibration (has {known})')
        cameras = [c for c in calibration.cameras if not wanted or c.name in wanted]
        return calibration, cameras

    def _subscribe_inputs(self) -> None:
        qos = qos_profile_sensor_data if self.settings['input_qos'] == 'sensor_data' else \
            QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
        lidar_topic = self.settings['lidar_topic'] or self.calibration.lidar_topic
        self._subscriptions_kept = [self.create_subscription(
            PointCloud2, lidar_topic, self._on_lidar, qos, callback_group=MutuallyExclusiveCallbackGroup())]
        for cam in self.cameras:
            image_type = CompressedImage if is_compressed_topic(cam.image_topic) else Image
            self._subscriptions_kept += [
                self.create_subscription(image_type, cam.image_topic, self._image_callback(cam.name), qos,
                                         callback_group=MutuallyExclusiveCallbackGroup()),
                self.create_subscription(CameraInfo, cam.info_topic, self._info_callback(cam.name), qos,
                                         callback_group=MutuallyExclusiveCallbackGroup())]
        self.static_tf = None if self.settings['calibration_file'] else \
            StaticTransforms(self, self._drop, MutuallyExclusiveCallbackGroup())
        self.get_logger().info(f'listening to {lidar_topic} and {len(self.cameras)} cameras '
                               f'{[c.image_topic for c in self.cameras]}; outputs in {self.base_frame}')

    # ---- callbacks (cheap: stamp, synchronise, hand over) ---------------------------------------
    def _on_lidar(self, msg, info) -> None:
        self.stats.mark('lidar_in')
        self._synchronise(LIDAR, msg, received_monotonic(info))

    def _image_callback(self, name: str):
        def callback(msg, info):
            self.stats.count('camera_in')
            self._synchronise(name, msg, received_monotonic(info))
        return callback

    def _info_callback(self, name: str):
        def callback(msg):
            try:
                camera_info_to_k(msg)
            except InputError as exc:  # counted now; frames keep the camera's previous CameraInfo
                self._drop(exc.reason, f'camera {name}: {exc}')
                return
            self._camera_infos[name] = msg
        return callback

    def _synchronise(self, stream: str, msg, received: float) -> None:
        """`received`: when DDS received the message (time.monotonic() seconds); the synchroniser's
        waiting times count from there, so a stalled executor does not make messages look late."""
        with self._sync_lock:
            result = self.sync.add(stream, stamp_to_ns(msg.header.stamp), (msg, received),
                                   now_ns=int(received * 1e9))
        self._handle_sync(result)

    def _expire_waiting(self) -> None:
        """Steady timer: a scan still missing a camera after sync_max_wait_s is dropped (or, with
        allow_missing_cameras, served) even when no further message comes to reveal it."""
        with self._sync_lock:
            result = self.sync.expire(int(time.monotonic() * 1e9))
        self._handle_sync(result)

    def _handle_sync(self, result) -> None:
        for jump in result.jumps:
            self._on_time_jump(jump)
        if result.discarded:
            self.stats.count('time_jump_discarded', len(result.discarded))
        for drop in result.dropped:
            self._drop(drop.reason, f'{drop.stream} message at {drop.stamp_ns / 1e9:.3f} s: {drop.detail}')
        for matched in result.matched:
            if self.slot.put(matched):
                self._drop('busy', 'worker still busy: an older synchronised frame was replaced by a newer one')

    def _on_time_jump(self, jump) -> None:
        """One warning per reset (like tf2's 'Detected jump back in time'); the next marker array
        starts with DELETEALL so viewers drop the markers of the old timeline."""
        self.stats.count('sync_resets')
        self.stats.count(f'time_jump_{jump.direction}')
        self.outputs.forget_markers()
        self.get_logger().warning(
            f'Detected jump {jump.direction} in time of {jump.seconds:.3f} s on {jump.stream} '
            f'(stamp {jump.stamp_ns / 1e9:.3f} s, {"previous" if jump.direction == "back" else "newest"} '
            f'{jump.reference_ns / 1e9:.3f} s). Resetting the synchroniser ({jump.cleared} waiting messages '
            f'cleared); {self.stats.counts["sync_resets"]} reset(s) so far')

    def _drop(self, reason: str, text: str) -> None:
        self.stats.count(f'drop.{reason}')
        self.log.warning(reason, f'dropped ({reason}, {self.stats.counts[f"drop.{reason}"]} so far): {text}')

    # ---- worker threads ---------------------------------------------------------------------------
    def _decode(self, matched: dict) -> None:
        """Stage 1 (`loc_decode`): a matched set -> a Frame in `frame_slot`."""
        lidar_msg, received = matched[LIDAR][1]
        images = {name: entry[1][0] for name, entry in matched.items() if name != LIDAR}
        cameras = self.cameras
        if len(images) < len(self.cameras) and self.settings['allow_missing_cameras']:
            cameras = [c for c in self.cameras if c.name in images]
            missing = [c.name for c in self.cameras if c.name not in images]
            self.stats.count('frames_lidar_only' if not cameras else 'frames_partial')
            used = f' and {len(cameras)} camera(s)' if cameras else ' alone'
            self.log.warning('missing_cameras', f'frame at {stamp_to_ns(lidar_msg.header.stamp) / 1e9:.3f} s '
                                                f'without camera(s) {missing}: predicted from the LiDAR{used}')
        stages, start = {}, time.monotonic()
        stages['wait'] = (start - received) * 1e3
        try:
            calibration, infos = self.calibration, dict(self._camera_infos)
            if self.static_tf is not None:
                calibration, cameras = self.static_tf.rig_for(calibration, cameras, lidar_msg, images, infos)
            built = build_frame(calibration, cameras, lidar_msg, images, infos, self._decode_size, self._decode_pool)
        except InputError as exc:
            self._drop(exc.reason, str(exc))
            return
        if built.nan_points_dropped:
            self.stats.count('nan_points_removed', built.nan_points_dropped)
            self.log.warning('nan_points', f'removed {built.nan_points_dropped} NaN/inf LiDAR points')
        stages['decode'], start = (time.monotonic() - start) * 1e3, time.monotonic()
        frame = built.frame
        if hasattr(self.predictor, 'prepare'):
            frame = self.predictor.prepare(frame)
            stages['prepare'] = (time.monotonic() - start) * 1e3
        if self.frame_slot.put((frame, received, stages, time.monotonic())):
            self._drop('busy', 'predictor still busy: an older decoded frame was replaced by a newer one')

    def _predict(self, item) -> None:
        """Stage 2 (`loc_predict`): predict, publish the grid, hand the result to `loc_views`."""
        frame, received, stages, decoded = item
        start = time.monotonic()
        stages['queued'] = (start - decoded) * 1e3
        result = self.predictor.predict(frame)  # a Frame, or the PreparedFrame made of it
        if not result.timestamp_ns:
            result.timestamp_ns = getattr(frame, 'frame', frame).timestamp_ns
        if not self._thresholds_in_model:
            result = apply_thresholds(result, *self._thresholds)
        stages['predict'], start = (time.monotonic() - start) * 1e3, time.monotonic()
        current = tuple(result.prompts) == self._prompts
        grid_published = self.outputs.publish_grid(result, update_legend=current)
        stages['publish'] = (grid_published - start) * 1e3
        self.stats.latency((grid_published - received) * 1e3, stages)
        self.stats.mark('published')
        if self.view_slot.put(result):
            self.stats.count('views_skipped')

    def _publish_views(self, result) -> None:
        """Stage 3 (`loc_views`): BEV, voxels and markers of a published grid."""
        start = time.monotonic()
        self.outputs.publish_views(result)
        self.stats.latency_stage('views', (time.monotonic() - start) * 1e3)

    def idle(self) -> bool:
        """True when no frame waits in a buffer or is being worked on."""
        return not any(w.busy for w in self.workers) and \
            not (self.slot.occupied or self.frame_slot.occupied or self.view_slot.occupied)

    def _on_frame_error(self, matched, exc: Exception) -> None:
        if not self.context.ok():  # SIGINT/SIGTERM shut the context down mid-frame: shutting down, not a failure
            self.stats.count('shutdown.frame_abandoned')
            return
        self.stats.count('error.frame')
        self.log.error('frame', f'frame failed and was dropped: {type(exc).__name__}: {exc}')

    def _apply_prompts(self, prompts: tuple) -> None:
        """Runs on the prompt thread, off the frame path: the predictor encodes the new prompts and
        swaps them in atomically (frames in flight finish with the old set)."""
        class_ids = P.prompt_class_ids(prompts)
        self.predictor.set_prompts(list(prompts), class_ids)
        self._prompts = prompts
        self.stats.count('prompt_changes')
        self.outputs.publish_legend(prompts, class_ids)
        self.get_logger().info(f'prompts now {list(prompts)}')

    def _on_prompt_error(self, prompts, exc: Exception) -> None:
        self.stats.count('error.prompts')
        self.get_logger().error(f'prompts {list(prompts or ())} could not be applied, keeping '
                                f'{list(self._prompts)}: {type(exc).__name__}: {exc}')

    # ---- parameters -------------------------------------------------------------------------------
    def _validate_parameters(self, params) -> SetParametersResult:
        for param in params:
            try:
                if param.name == 'prompts':
                    P.validate_prompts(param.value)
            except P.InvalidParameter as exc:
                return SetParametersResult(successful=False, reason=f'{param.name}: {exc}')
        return SetParametersResult(successful=True)

    def _apply_parameters(self, params) -> None:
        for param in params:
            if param.name == 'prompts':
                self.prompt_slot.put(P.validate_prompts(param.value))
            elif param.name in ('unknown_threshold', 'score_threshold'):
                unknown, score = self._thresholds
                self._thresholds = (float(param.value), score) if param.name == 'unknown_threshold' else \
                    (unknown, float(param.value))
                self._thresholds_in_model = push_thresholds(self.predictor, *self._thresholds)
            elif param.name == 'sync_slop_s':
                with self._sync_lock:
                    self.sync.slop_ns = int(param.value * 1e9)

    @property
    def prompts(self) -> tuple[str, ...]:
        """The prompts the outputs currently use."""
        return self._prompts

    # ---- diagnostics and shutdown -----------------------------------------------------------------
    def _publish_diagnostics(self) -> None:
        with self._sync_lock:
            pending = self.sync.pending()
        extra = {'slot_occupied': self.slot.occupied + self.frame_slot.occupied + self.view_slot.occupied,
                 'sync_waiting_lidar': pending[LIDAR],
                 'sync_waiting_images': sum(v for k, v in pending.items() if k != LIDAR),
                 'prompts': ', '.join(self._prompts),
                 'model_trained': str(getattr(self.predictor, 'trained', 'unknown'))}
        self.outputs.publish_diagnostics(
            diagnostic_array(self.stats, self.get_clock().now().to_msg(), self.get_name(), extra))

    def destroy_node(self):
        for worker in [*self.workers, getattr(self, 'prompt_worker', None)]:
            if worker is not None:
                worker.stop()
        if getattr(self, '_decode_pool', None) is not None:
            self._decode_pool.shutdown(wait=True, cancel_futures=True)
        return super().destroy_node()


def received_monotonic(info) -> float:
    """A subscription's MessageInfo -> when DDS received the message, on the time.monotonic() clock
    (the middleware stamps reception in system time; an rmw without that stamp gives 0: now)."""
    received_ns = (info or {}).get('received_timestamp') or 0
    age_s = max(0.0, (time.time_ns() - received_ns) / 1e9) if received_ns else 0.0
    return time.monotonic() - age_s
