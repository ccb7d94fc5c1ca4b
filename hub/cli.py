"""`jingkai`: the command line for platform admins (init, serve, keys …)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

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

    from hub.api.app import create_app
    from hub.logging_setup import LOG_CONFIG

    base = f"http://{args.host}:{args.port}"
    print(f"经开枢纽 API: {base}/api/v1   文档 docs: {base}/docs", flush=True)
    print(f"Open311: {base}/open311/v2/discovery.json   健康 health: {base}/healthz", flush=True)
    # Several workers need an import string; one worker gets the app object.
    target = "hub.api.app:create_app" if args.workers > 1 else create_app()
    uvicorn.run(
        target,
        factory=args.workers > 1,
        workers=args.workers,
        host=args.host,
        port=args.port,
        log_config=LOG_CONFIG,
        log_level=args.log_level,
        access_log=not args.no_access_log,
    )
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
