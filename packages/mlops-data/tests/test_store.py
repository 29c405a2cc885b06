"""DvcStore against a real git + DVC repository and a real local remote folder in tmp_path."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from mlops_core.errors import ConfigError, InputValidationError, ReferenceNotFoundError, ServiceError
from mlops_core.providers import DataStore
from mlops_core.settings import Settings, load_settings

from mlops_data.errors import DataRepoError
from mlops_data.remote import PLUGINS
from mlops_data.store import DvcStore

pytestmark = [
    pytest.mark.integration,
    # DVC 3.67 itself still calls a deprecated pygtrie accessor.
    pytest.mark.filterwarnings("ignore:_NoneStep.value:DeprecationWarning"),
]


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def test_store_satisfies_the_datastore_protocol(store: DvcStore) -> None:
    assert isinstance(store, DataStore)


def test_first_use_creates_git_and_dvc_repo_with_local_config(fresh_store: DvcStore, settings: Settings) -> None:
    store = fresh_store
    assert not store.is_initialized()

    folder = store.project_dir("iris")

    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(store.root), *args], check=True, capture_output=True,
                              text=True).stdout.strip()

    assert folder == settings.data_repo_dir.resolve() / "iris" and folder.is_dir()
    assert (store.root / ".git").is_dir() and (store.root / ".dvc").is_dir()
    # The identity lives in the data repository's own config, so commits work without a global one.
    assert git("config", "--local", "user.email") == "mlops-data@localhost"
    committed = (store.root / ".dvc" / "config").read_text()
    assert "analytics = false" in committed.lower() and "check_update = false" in committed.lower()
    local = (store.root / ".dvc" / "config.local").read_text()
    assert str(settings.state_dir.resolve() / "dvc-site-cache") in local
    assert str(settings.state_dir.resolve() / "dvc-remote") in local
    assert git("status", "--porcelain") == ""  # set-up is committed, the lock file ignored


def test_a_copied_repository_follows_its_own_settings(store: DvcStore, settings: Settings) -> None:
    store.project_dir("iris")
    local = (store.root / ".dvc" / "config.local").read_text()
    assert str(settings.state_dir.resolve() / "dvc-remote") in local
    assert "template" not in local


def test_dvc_keeps_its_site_cache_inside_the_state_dir(store: DvcStore, settings: Settings) -> None:
    store.project_dir("iris")
    with store._dvc() as repo:
        site = Path(repo.site_cache_dir)
    assert site.is_relative_to(settings.state_dir.resolve())


def test_version_a_file_records_its_md5_and_commit(store: DvcStore, replace, git) -> None:
    data = b"sepal,petal\n1.0,2.0\n"
    path = replace(store.project_dir("iris") / "data" / "train.csv", data)

    (v,) = store.version("iris", [path], message="first cut")

    assert v.project == "iris" and v.kind == "dataset"
    assert v.path == "iris/data/train.csv"
    assert v.hash == md5(data)
    assert v.size_bytes == len(data)
    assert v.rev == git("rev-parse", "HEAD")
    assert git("log", "-1", "--format=%s") == "first cut"
    assert git("show", "--name-only", "--format=", "HEAD").splitlines() == [
        "iris/data/.gitignore", "iris/data/train.csv.dvc"]
    assert md5(store.read("iris", "data/train.csv", v.rev)) == md5(data)


def test_new_content_gets_a_new_hash_and_rev_and_the_old_one_stays_readable(store: DvcStore, replace) -> None:
    path = store.project_dir("iris") / "train.csv"
    old, new = b"a,b\n1,2\n", b"a,b\n1,2\n3,4\n"
    (v1,) = store.version("iris", [replace(path, old)])
    (v2,) = store.version("iris", [replace(path, new)])

    assert v2.hash == md5(new) != v1.hash
    assert v2.rev != v1.rev
    assert store.read("iris", "train.csv", v1.rev) == old
    assert store.read("iris", "train.csv", v2.rev) == new
    assert store.read("iris", "train.csv", "HEAD") == new
    assert [(h.hash, h.rev) for h in store.history("iris")] == [(v2.hash, v2.rev), (v1.hash, v1.rev)]


def test_versioning_the_same_content_twice_is_idempotent(store: DvcStore, replace, git) -> None:
    path = replace(store.project_dir("iris") / "train.csv", "x\n1\n")
    (first,) = store.version("iris", [path])
    commits = git("rev-list", "--count", "HEAD")

    replace(path, "x\n1\n")  # same bytes, new file: still the same version
    (second,) = store.version("iris", [path])

    assert second == first
    assert git("rev-list", "--count", "HEAD") == commits
    assert len(store.history("iris")) == 1


def test_unchanged_paths_keep_the_rev_that_holds_them(store: DvcStore, replace) -> None:
    folder = store.project_dir("iris")
    a, b = replace(folder / "a.csv", "a\n"), replace(folder / "b.csv", "b\n")
    va1, vb1 = store.version("iris", [a, b])
    replace(b, "b2\n")
    va2, vb2 = store.version("iris", [a, b])

    assert va2 == va1
    assert vb2.rev != vb1.rev and vb2.hash == md5(b"b2\n")


def test_a_model_folder_gets_a_dir_hash(store: DvcStore, replace) -> None:
    model = store.project_dir("iris") / "model"
    replace(model / "weights.bin", b"\x00" * 1000)
    replace(model / "config.json", b'{"layers": 2}')

    (v,) = store.version("iris", [model], kind="model")

    assert v.kind == "model" and v.path == "iris/model"
    assert v.hash.endswith(".dir") and len(v.hash) == 32 + len(".dir")
    assert v.size_bytes == 1000 + len(b'{"layers": 2}')
    assert store.read("iris", "model/config.json", v.rev) == b'{"layers": 2}'
    assert store.history("iris")[0].kind == "model"


def test_relative_paths_are_taken_from_the_project_folder(store: DvcStore, replace) -> None:
    replace(store.project_dir("iris") / "data" / "x.csv", "1\n")
    (v,) = store.version("iris", [Path("data/x.csv")])
    assert v.path == "iris/data/x.csv"


def test_checkout_an_old_rev_updates_the_working_file_and_head_brings_back_the_latest(
    store: DvcStore, replace, git
) -> None:
    path = store.project_dir("iris") / "train.csv"
    (v1,) = store.version("iris", [replace(path, "old\n")])
    (v2,) = store.version("iris", [replace(path, "new\n")])

    updated = store.checkout("iris", v1.rev)

    assert updated == [path]
    assert path.read_text() == "old\n"
    assert git("rev-parse", "HEAD") == v2.rev  # history did not move
    assert store.status(remote=False)["projects"][0]["not_at_head"] == ["iris/train.csv.dvc"]

    assert store.checkout("iris", "HEAD") == [path]
    assert path.read_text() == "new\n"
    assert git("status", "--porcelain") == ""


def test_checkout_refuses_to_overwrite_changes_never_versioned(store: DvcStore, replace) -> None:
    path = store.project_dir("iris") / "train.csv"
    (v1,) = store.version("iris", [replace(path, "old\n")])
    store.version("iris", [replace(path, "new\n")])
    replace(path, "my unsaved edit\n")
    dvcfile_before = (path.parent / "train.csv.dvc").read_bytes()

    with pytest.raises(InputValidationError, match="never versioned") as info:
        store.checkout("iris", v1.rev)

    assert "force" in (info.value.fix or "")
    assert path.read_text() == "my unsaved edit\n"
    assert (path.parent / "train.csv.dvc").read_bytes() == dvcfile_before

    store.checkout("iris", v1.rev, force=True)
    assert path.read_text() == "old\n"


def test_autopush_puts_the_object_in_the_remote_folder(store: DvcStore, settings: Settings, replace) -> None:
    data = b"pushed bytes\n"
    (v,) = store.version("iris", [replace(store.project_dir("iris") / "p.csv", data)])

    obj = Path(settings.data_remote_url) / "files" / "md5" / v.hash[:2] / v.hash[2:]
    assert obj.is_file() and obj.read_bytes() == data


def test_a_version_missing_from_the_cache_comes_back_from_the_remote(make_store, replace) -> None:
    store = make_store(cache_type="copy")
    path = store.project_dir("iris") / "a.csv"
    (v1,) = store.version("iris", [replace(path, "one\n")])
    store.version("iris", [replace(path, "two\n")])
    cached = store.root / ".dvc" / "cache" / "files" / "md5" / v1.hash[:2] / v1.hash[2:]
    cached.chmod(0o644)
    cached.unlink()  # e.g. a fresh clone of the data repository, or a cleaned cache

    assert store.read("iris", "a.csv", v1.rev) == b"one\n"
    assert store.checkout("iris", v1.rev) == [path]
    assert path.read_text() == "one\n" and cached.is_file()


def test_push_sends_versions_made_without_autopush(make_store, replace) -> None:
    store = make_store(autopush=False)
    remote = Path(store.remote_url)
    path = store.project_dir("iris") / "p.csv"
    (v1,) = store.version("iris", [replace(path, "one\n")])
    (v2,) = store.version("iris", [replace(path, "two\n")])
    assert not (remote / "files").exists()
    assert store.status()["not_in_remote"] == ["iris/p.csv"]

    assert store.push() == 2  # every commit's objects, not only the latest

    for v in (v1, v2):
        assert (remote / "files" / "md5" / v.hash[:2] / v.hash[2:]).is_file()
    assert store.status()["not_in_remote"] == []
    assert store.push() == 0


def test_a_failed_autopush_keeps_the_committed_version_and_says_how_to_retry(
    make_store, settings: Settings, replace
) -> None:
    blocker = settings.workspace_root / "remote-is-a-file"
    blocker.write_text("not a folder")
    store = make_store(remote_url=str(blocker))
    path = replace(store.project_dir("iris") / "a.csv", "a\n")

    with pytest.raises(ServiceError, match="committed locally") as info:
        store.version("iris", [path])

    assert "mlops data push" in (info.value.fix or "")
    (kept,) = store.history("iris")
    assert kept.hash == md5(b"a\n") and store.read("iris", "a.csv", kept.rev) == b"a\n"


def test_a_path_outside_the_project_folder_is_refused_and_nothing_changes(
    store: DvcStore, settings: Settings, replace, git
) -> None:
    store.version("iris", [replace(store.project_dir("iris") / "ok.csv", "ok\n")])
    head = git("rev-parse", "HEAD")
    outsider = replace(settings.workspace_root / "elsewhere.csv", "nope\n")
    neighbour = replace(store.project_dir("other") / "x.csv", "x\n")

    for bad in (outsider, neighbour, store.root / "iris" / ".." / "other" / "x.csv", store.root / "iris"):
        with pytest.raises(InputValidationError, match="outside the folder of project 'iris'") as info:
            store.version("iris", [bad])
        assert "project_dir" in (info.value.fix or "")

    assert git("rev-parse", "HEAD") == head
    assert git("status", "--porcelain", "--", "iris") == ""
    assert not outsider.with_name("elsewhere.csv.dvc").exists()
    assert not neighbour.with_name("x.csv.dvc").exists()
    assert outsider.read_text() == "nope\n"


@pytest.mark.parametrize("bad", ["", "../x", "a/b", ".hidden", "x y"])
def test_bad_project_names_are_refused(store: DvcStore, bad: str) -> None:
    with pytest.raises(InputValidationError, match="invalid project name"):
        store.project_dir(bad)


def test_a_failed_dvc_add_leaves_no_half_commit(store: DvcStore, replace, git) -> None:
    folder = store.project_dir("iris")
    (before,) = store.version("iris", [replace(folder / "data" / "train.csv", "t\n")])
    head, ignore = git("rev-parse", "HEAD"), (folder / "data" / ".gitignore").read_bytes()
    fresh = replace(folder / "fresh.csv", "fresh\n")

    # fresh.csv alone would be fine; the folder overlaps a tracked file, so DVC refuses the call.
    with pytest.raises(InputValidationError, match="DVC refused .*overlapping"):
        store.version("iris", [fresh, folder / "data"])

    assert git("rev-parse", "HEAD") == head
    assert git("diff", "--cached", "--name-only") == ""
    assert git("status", "--porcelain") == "?? iris/fresh.csv"  # back to an untracked file
    assert not (folder / "fresh.csv.dvc").exists() and not (folder / "data.dvc").exists()
    assert (folder / "data" / ".gitignore").read_bytes() == ignore
    assert store.read("iris", "data/train.csv", before.rev) == b"t\n"


def test_a_git_failure_after_dvc_add_is_rolled_back(store: DvcStore, replace, git) -> None:
    folder = store.project_dir("iris")
    store.version("iris", [replace(folder / "a.csv", "a\n")])
    head, ignore = git("rev-parse", "HEAD"), (folder / ".gitignore").read_bytes()
    # Another git process holds the index: `git add` fails after DVC has written b.csv.dvc.
    lock = store.root / ".git" / "index.lock"
    lock.touch()
    b = replace(folder / "b.csv", "b\n")

    with pytest.raises(DataRepoError, match="index.lock"):
        store.version("iris", [b])

    lock.unlink()
    assert git("rev-parse", "HEAD") == head
    assert not (folder / "b.csv.dvc").exists()
    assert (folder / ".gitignore").read_bytes() == ignore
    (v,) = store.version("iris", [b])  # and it works once git is free again
    assert v.rev != head


def test_a_file_inside_a_versioned_folder_is_refused(store: DvcStore, replace) -> None:
    model = store.project_dir("iris") / "model"
    replace(model / "w.bin", b"w")
    store.version("iris", [model], kind="model")

    with pytest.raises(InputValidationError, match="versioned as a folder") as info:
        store.version("iris", [model / "w.bin"])
    assert "version the folder" in (info.value.fix or "")


def test_unknown_rev_or_path_is_a_reference_error(store: DvcStore, replace) -> None:
    (v,) = store.version("iris", [replace(store.project_dir("iris") / "a.csv", "a\n")])

    with pytest.raises(ReferenceNotFoundError, match="unknown revision 'deadbeef'"):
        store.read("iris", "a.csv", "deadbeef")
    with pytest.raises(ReferenceNotFoundError, match="unknown revision"):
        store.checkout("iris", "no-such-branch")
    with pytest.raises(ReferenceNotFoundError, match="not versioned at revision"):
        store.read("iris", "missing.csv", v.rev)
    with pytest.raises(ReferenceNotFoundError, match="drop the leading 'iris/'"):
        store.read("iris", v.path, v.rev)
    with pytest.raises(ReferenceNotFoundError, match="no versioned files"):
        store.checkout("other", v.rev)
    with pytest.raises(InputValidationError):
        store.read("iris", "../a.csv", v.rev)


def test_history_is_newest_first_across_files_and_kinds(store: DvcStore, replace) -> None:
    folder = store.project_dir("iris")
    (d1,) = store.version("iris", [replace(folder / "d.csv", "1\n")])
    (m1,) = store.version("iris", [replace(folder / "m" / "w", "w\n")], kind="model")
    (d2,) = store.version("iris", [replace(folder / "d.csv", "2\n")])
    store.version("other", [replace(store.project_dir("other") / "o.csv", "o\n")])

    assert store.history("iris") == [d2, m1, d1]
    assert store.history("nobody") == []


def test_a_remote_scheme_without_its_plugin_is_a_config_error_naming_the_extra(settings: Settings, replace) -> None:
    from importlib.util import find_spec

    scheme = next((s for s, (module, _) in PLUGINS.items() if find_spec(module) is None), None)
    if scheme is None:
        pytest.skip("every DVC remote plugin is installed")
    store = DvcStore(load_settings(root=settings.workspace_root, data={"remote_url": f"{scheme}://bucket/dvc"}))

    with pytest.raises(ConfigError, match=f"needs DVC's {scheme} support") as info:
        store.project_dir("iris")
    assert f'dvc[{PLUGINS[scheme][1]}]' in (info.value.fix or "")


def test_an_invalid_cache_type_is_a_config_error(settings: Settings) -> None:
    store = DvcStore(load_settings(root=settings.workspace_root, data={"cache_type": "hardlink,teleport"}))
    with pytest.raises(ConfigError, match="cache_type"):
        store.project_dir("iris")


def test_cache_type_copy_leaves_independent_files(make_store, replace) -> None:
    store = make_store(cache_type="copy")
    path = replace(store.project_dir("iris") / "c.csv", "c\n")
    store.version("iris", [path])
    assert path.stat().st_nlink == 1


@pytest.mark.slow
def test_concurrent_processes_version_without_losing_each_other(
    store: DvcStore, settings: Settings, git
) -> None:
    store.project_dir("shared")
    script = textwrap.dedent(
        """
        import sys
        from pathlib import Path
        from mlops_core.settings import load_settings
        from mlops_data.store import DvcStore

        store = DvcStore(load_settings(root=Path(sys.argv[1])))
        name = sys.argv[2]
        for i in range(3):
            path = store.project_dir("shared") / f"{name}.csv"
            path.unlink(missing_ok=True)
            path.write_text(f"{name} {i}\\n")
            store.version("shared", [path])
        """
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLOPS_")}
    procs = [subprocess.Popen([sys.executable, "-c", script, str(settings.workspace_root), name], env=env,
                              stderr=subprocess.PIPE, text=True) for name in ("a", "b")]
    errors = [p.communicate(timeout=300)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], errors

    assert len(store.history("shared")) == 6
    assert store.read("shared", "a.csv", "HEAD") == b"a 2\n"
    assert store.read("shared", "b.csv", "HEAD") == b"b 2\n"
    assert git("status", "--porcelain") == ""
    assert subprocess.run(["git", "-C", str(store.root), "fsck", "--no-progress"]).returncode == 0
