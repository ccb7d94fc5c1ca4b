"""`jingkai`: the command line for platform admins (init, serve, keys …)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import Any

from hub import heap
from hub.config import get_settings
from hub.store.db import get_engine, transaction
from hub.yamlconf import ConfigError


def cmd_init(_args: argparse.Namespace) -> int:
    """Migrate the schema and load the reference data; safe to run again."""
    from hub.reference import load_reference
    from hub.store.migrate import current_revision, upgrade
    from hub.store.reference import load_reference_data

    settings = get_settings()
    data = load_reference(settings.policies_dir)
    engine = get_engine()
    upgrade(engine)
    with transaction(engine) as conn:
        counts = load_reference_data(conn, data)
    print(f"数据库 database: {engine.url.render_as_string(hide_password=True)}")
    print(f"结构版本 schema revision: {current_revision(engine)}")
    for table, c in counts.items():
        print(f"  {table:16} inserted={c.inserted} updated={c.updated} unchanged={c.unchanged}")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from hub.api import serving
    from hub.api.app import create_app
    from hub.logging_setup import LOG_CONFIG

    os.environ.setdefault(heap.SETTLE_ENV, "1")  # the API workers inherit it
    base = f"http://{args.host}:{args.port}"
    print(f"经开枢纽 API: {base}/api/v1   文档 docs: {base}/docs", flush=True)
    print(f"Open311: {base}/open311/v2/discovery.json   健康 health: {base}/healthz", flush=True)
    options: dict[str, Any] = {
        "host": args.host,
        "port": args.port,
        "log_config": LOG_CONFIG,
        "log_level": args.log_level,
        "access_log": not args.no_access_log,
    }
    if args.workers > 1 and serving.can_reuse_port():
        # Each worker listens on its own socket, so connections spread over all of them.
        config = uvicorn.Config(
            "hub.api.app:create_app", factory=True, workers=args.workers, **options
        )
        serving.run_workers(config)
        return 0
    # Several workers need an import string; one worker gets the app object.
    target = "hub.api.app:create_app" if args.workers > 1 else create_app()
    uvicorn.run(target, factory=args.workers > 1, workers=args.workers, **options)
    return 0


def cmd_keys(args: argparse.Namespace) -> int:
    from hub.store import api_keys

    engine = get_engine()
    if args.keys_command == "create":
        try:
            api_keys.validate_scope(args.scope)
        except ValueError as exc:
            print(f"错误 error: {exc}", file=sys.stderr)
            return 2
        with transaction(engine) as conn:
            record, clear = api_keys.create_key(conn, args.name, args.scope)
        print(f"已创建 created key id={record.id} name={record.name} scope={record.scope}")
        print("请妥善保存，密钥只显示这一次 (store it now; it is shown only once):")
        print(clear)
        return 0
    if args.keys_command == "revoke":
        with transaction(engine) as conn:
            count = api_keys.revoke_key(conn, key_id=args.id, name=args.name)
        print(f"已吊销 revoked: {count}")
        return 0 if count else 1
    with engine.connect() as conn:
        rows = api_keys.list_keys(conn)
    for k in rows:
        status = "revoked" if k.revoked_at else "active"
        print(f"{k.id:>4}  {k.prefix}…  {k.scope:24} {status:8} {k.name}")
    return 0


def cmd_connectors(args: argparse.Namespace) -> int:
    """Department IT's tools: list, check, preview (writes nothing) and pull."""
    from hub.services import connectors as svc

    settings = get_settings()
    files = svc.connector_files(settings)
    if args.connectors_command == "list":
        for name, path in files.items():
            try:
                config, _ = svc.load_one(settings, name)
            except ConfigError as exc:
                print(f"{name:18} ✗ {exc}")
                continue
            streams = ",".join(s.name for s in config.streams) or "-"
            operations = ",".join(o.name for o in config.operations) or "-"
            print(
                f"{name:18} {config.kind:6} {config.unit:12} 流 streams={streams}  "
                f"操作 operations={operations}  ({path})"
            )
        return 0
    engine = get_engine()
    if args.connectors_command == "check":
        names = [args.name] if args.name else list(files)
        failed = 0
        for name in names:
            path = files.get(name, settings.connectors_dir / f"{name}.yaml")
            report = svc.check(settings, engine, name, path)
            print(f"{name}: {'通过 OK' if report.ok else '失败 FAILED'}")
            for line in report.lines:
                print(f"  {line}")
            failed += not report.ok
        return 1 if failed else 0
    puller = svc.stream_puller(settings, engine, args.name, args.stream)
    if args.connectors_command == "preview":
        return _print_preview(puller.preview(args.limit), args)
    result = puller.pull(max_pages=args.max_pages)
    print(
        f"{result.connector}/{result.stream}: 页 pages={result.pages} "
        f"记录 records={result.records} 新增 inserted={result.inserted} "
        f"变更 changed={result.changed} 未变 unchanged={result.unchanged} "
        f"死信 dead_letters={result.dead_letters}"
    )
    print(f"游标 cursor: {result.cursor_before} → {result.cursor_after}")
    return 0


def _print_preview(mapped: Any, args: argparse.Namespace) -> int:
    from hub.model.masking import mask_text

    rows = [m.model_dump(mode="json", exclude_none=True) for m in mapped.models]
    text = json.dumps(rows, ensure_ascii=False, indent=2)
    print(text if args.show_personal_data else mask_text(text))
    print(
        f"预览 preview: {len(mapped.records)} 条记录 records, "
        f"{len(mapped.models)} 条已映射 mapped, {len(mapped.failures)} 条失败 failed — "
        "未写入任何数据 (nothing written)",
        file=sys.stderr,
    )
    for failure in mapped.failures[: args.limit]:
        print(f"  ✗ {failure.field_path or '-'}: {failure.reason}", file=sys.stderr)
    if mapped.page_error:
        print(f"  ✗ 页面无法解析 (page unreadable): {mapped.page_error}", file=sys.stderr)
    return 0 if not (mapped.failures or mapped.page_error) else 1


def cmd_dlq(args: argparse.Namespace) -> int:
    """Dead letters: list them (masked), replay them once the mapping or data is fixed."""
    from hub.bus.consumer import BUS_SOURCE
    from hub.bus.replay import replay_bus_letter
    from hub.model.masking import mask_text
    from hub.services import connectors as svc
    from hub.services.dead_letters import replay
    from hub.store.dead_letters import list_dead_letters

    engine = get_engine()
    with engine.connect() as conn:
        letters = list_dead_letters(conn, args.source, pending_only=not args.all, limit=args.limit)
    if args.dlq_command == "list":
        for letter in letters:
            state = "已重放 replayed" if letter.replayed_at else "待处理 pending"
            print(  # a bus letter's reason quotes an exception, which may quote personal data
                f"#{letter.id} {letter.source}/{letter.stream or '-'} {state} "
                f"{letter.created_at:%Y-%m-%d %H:%M} {letter.field_path or '-'}: "
                f"{mask_text(letter.reason)}"
            )
            if args.show_payload:
                print("   " + mask_text(str(letter.original()))[:500])
        return 0
    wanted = set(args.ids)
    failed = 0
    settings = get_settings()
    for letter in letters:
        if wanted and letter.id not in wanted:
            continue
        if letter.source == BUS_SOURCE:  # a message no consumer could handle: queue it again
            outcome = replay_bus_letter(engine, letter)
        else:
            config, _ = svc.load_one(settings, letter.source)
            stream = next(s for s in config.streams if s.name == letter.stream)
            outcome = replay(engine, letter, svc.mapping_for(settings, stream.mapping))
        print(f"#{outcome.letter_id}: {'✓' if outcome.ok else '✗'} {outcome.message}")
        failed += not outcome.ok
    return 1 if failed else 0


def cmd_worker(args: argparse.Namespace) -> int:
    """Relay the outbox and run the bus consumers until SIGTERM or Ctrl-C."""
    import logging.config
    import signal
    import threading

    from kombu.exceptions import OperationalError

    from hub.bus.runner import select_queues, start_bus, topology_for
    from hub.logging_setup import LOG_CONFIG
    from hub.services.runtime import FlowRuntime
    from hub.services.sweeper import Sweeper

    os.environ.setdefault(heap.SETTLE_ENV, "1")
    settings = get_settings()
    engine = get_engine()
    queues = [q.strip() for q in args.queues.split(",") if q.strip()] if args.queues else None
    runtime = FlowRuntime(settings, engine)
    handlers = runtime.handlers()
    try:
        select_queues(topology_for(settings), handlers, queues)
    except ValueError as exc:
        print(f"错误 error: {exc}", file=sys.stderr)
        return 2
    logging.config.dictConfig(LOG_CONFIG)
    stopping = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopping.set())
    try:
        runner = start_bus(engine, settings, handlers, queues)
    except OperationalError as exc:
        print(f"无法连接消息代理 (cannot reach the broker): {exc}", file=sys.stderr)
        return 1
    heap.settle_loaded()
    consuming = ", ".join(c.name for c in runner.consumers) or "无 none"
    print(f"总线工作进程已启动 worker started: broker={runner.bus.safe_url}", flush=True)
    print(f"  消费队列 consuming: {consuming}   发件箱中继 outbox relay: on", flush=True)
    sweeper = Sweeper(runtime, settings.sweep_seconds).start() if settings.sweep_seconds else None
    while not stopping.wait(1.0):
        pass
    print("正在停止 stopping…", flush=True)
    if sweeper is not None:
        sweeper.stop()
    runner.stop()
    runtime.close()
    print("已停止 stopped", flush=True)
    return 0


SWEEPS = ("route", "dispatch", "feedback", "supervise", "housekeeping")


def cmd_sweep(args: argparse.Namespace) -> int:
    """The functions the Airflow DAGs call: each finishes work left half done."""
    from hub.services.runtime import FlowRuntime

    runtime = FlowRuntime(get_settings(), get_engine())
    try:
        for which in args.which:
            report = runtime.sweep(which)
            done = ", ".join(f"{k}={v}" for k, v in sorted(report.done.items())) or "无 nothing"
            print(f"{which}: {done}", flush=True)
    finally:
        runtime.close()
    return 0


DEMO_SCOPES = {"portal": "demo-portal", "staff": "demo-staff", "admin": "demo-admin"}


def cmd_demo_keys(_args: argparse.Namespace) -> int:
    """Keys for trying the embedded hub: made once, kept in var/demo-keys.env (mode 600)."""
    from hub.store import api_keys

    settings = get_settings()
    path = settings.home / "demo-keys.env"
    engine = get_engine()
    known: dict[str, str] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            name, _, value = line.partition("=")
            known[name.strip()] = value.strip()
    with transaction(engine) as conn:
        for scope, name in DEMO_SCOPES.items():
            variable = f"JK_{scope.upper()}_KEY"
            if known.get(variable) and api_keys.find_active_key(conn, known[variable]):
                continue
            known[variable] = api_keys.create_key(conn, name, scope)[1]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{k}={v}\n" for k, v in sorted(known.items())))
    path.chmod(0o600)
    print(f"演示密钥 demo keys ({path}; `source` it for the README's curl session):")
    for variable, value in sorted(known.items()):
        print(f"  {variable}={value}")
    return 0


def cmd_sandbox(args: argparse.Namespace) -> int:
    """Run the simulated department systems in the foreground until Ctrl-C."""
    from pathlib import Path

    from hub.sandbox.runner import parse_ports, serve_forever

    try:
        ports = parse_ports(args.ports)
        print(f"模拟部门系统 sandbox systems (data: {Path(args.data_dir).resolve()}):", flush=True)
        serve_forever(Path(args.data_dir), ports, seed_matters=args.seed_matters)
    except (ValueError, OSError) as exc:
        print(f"错误 error: {exc}", file=sys.stderr)
        return 2
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="jingkai", description="经开枢纽 Jingkai Hub")
    sub = parser.add_subparsers(dest="command", required=True)

    sub.add_parser("init", help="迁移数据库并加载基础数据 (migrate and load reference data)")

    serve = sub.add_parser("serve", help="启动 API 服务 (run the API)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--log-level", default="info")
    serve.add_argument("--no-access-log", action="store_true")
    serve.add_argument("--workers", type=int, default=1, help="进程数 (uvicorn workers)")

    keys = sub.add_parser("keys", help="管理 API 密钥 (manage API keys)")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True)
    create = keys_sub.add_parser("create", help="创建密钥；最后一行输出密钥本身")
    create.add_argument("--scope", required=True, help="portal | staff | admin | unit:<单位编码>")
    create.add_argument("--name", required=True)
    revoke = keys_sub.add_parser("revoke", help="吊销密钥 (by id or name)")
    which = revoke.add_mutually_exclusive_group(required=True)
    which.add_argument("--id", type=int)
    which.add_argument("--name")
    keys_sub.add_parser("list", help="列出密钥 (never shows the keys themselves)")
    conn = sub.add_parser("connectors", help="连接器：列出、检查、预览、拉取 (department systems)")
    conn_sub = conn.add_subparsers(dest="connectors_command", required=True)
    conn_sub.add_parser("list", help="列出连接器 (list connectors)")
    check = conn_sub.add_parser("check", help="校验配置与映射、解析密钥、连通端点")
    check.add_argument("name", nargs="?")
    for command, text in (("preview", "预览一页（不写入）"), ("pull", "增量拉取入库")):
        one = conn_sub.add_parser(command, help=text)
        one.add_argument("name")
        one.add_argument("--stream", required=True)
        if command == "preview":
            one.add_argument("--limit", type=int, default=10)
            one.add_argument(
                "--show-personal-data",
                action="store_true",
                help="显示未脱敏的个人信息 (do not mask phones/IDs)",
            )
        else:
            one.add_argument("--max-pages", type=int, default=1000)
    dlq = sub.add_parser("dlq", help="死信：查看与重放 (dead letters: list and replay)")
    dlq_sub = dlq.add_subparsers(dest="dlq_command", required=True)
    for command, text in (("list", "列出死信"), ("replay", "重新映射并入库")):
        one = dlq_sub.add_parser(command, help=text)
        one.add_argument("--source", help="连接器名或 bus (connector name, or bus)")
        one.add_argument("--all", action="store_true", help="含已重放的 (include replayed)")
        one.add_argument("--limit", type=int, default=100)
        if command == "list":
            one.add_argument("--show-payload", action="store_true", help="显示原文（已脱敏）")
        else:
            one.add_argument("ids", nargs="*", type=int, help="死信编号，缺省为全部待处理")
    worker = sub.add_parser("worker", help="运行总线：发件箱中继与消费者 (relay and consumers)")
    worker.add_argument("--queues", help="只消费这些队列，逗号分隔 (e.g. route,dispatch.inbox)")
    sweep = sub.add_parser(
        "sweep", help="补办半途的工作：分单、派单、反馈轮询、督办 (finish half-done work)"
    )
    sweep.add_argument(
        "which",
        nargs="+",
        choices=SWEEPS,
        help="route | dispatch | feedback | supervise | housekeeping",
    )
    sub.add_parser("demo-keys", help="演示用密钥，保存在 var/demo-keys.env (embedded demo only)")
    sandbox = sub.add_parser("sandbox", help="启动模拟部门系统 (run the sandbox systems)")
    sandbox.add_argument("--data-dir", default="var/sandbox", help="各系统 SQLite 文件目录")
    sandbox.add_argument("--ports", default="", help="如 weaver=8101,hebei=0 (0 = 任意空闲端口)")
    sandbox.add_argument("--seed-matters", type=int, default=0, help="河北网事项种子数量")
    return parser


COMMANDS = {
    "init": cmd_init,
    "serve": cmd_serve,
    "keys": cmd_keys,
    "demo-keys": cmd_demo_keys,
    "connectors": cmd_connectors,
    "dlq": cmd_dlq,
    "worker": cmd_worker,
    "sweep": cmd_sweep,
    "sandbox": cmd_sandbox,
}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except ConfigError as exc:
        print(f"配置错误 config error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
