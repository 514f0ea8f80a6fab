"""The feedback store on both engines: SQLite (the default) and PostgreSQL (a real server the
tests start: ``tests/postgres.py``). The same reports give the same answers on both, a fleet's
replicas share one PostgreSQL store, and the server takes ``--feedback-store postgresql://``."""
import pytest

from captcha_core.feedback import Report, ReportConflict, SQLiteStore, open_store


def scenario(store) -> dict:
    """Every call of the store interface, on one story of reports; what each answered."""
    out = {}
    base = dict(color="red", route="direct", model="red", version=4)
    out["first"] = store.add(Report("a1", b"pic-1", answer="AB", confidence=0.9, submitted_text="AB",
                                    accepted=False, created=1.0, path_confidence=0.95, reads=1, agreeing=1, **base))
    out["again"] = store.add(Report("a1", b"pic-1", answer="AB", confidence=0.9, submitted_text="AB",
                                    accepted=False, created=1.0, **base))
    with pytest.raises(ReportConflict):
        store.add(Report("a1", b"pic-1", answer="AB", confidence=0.9, submitted_text="AB", accepted=True, **base))
    out["human"] = store.add(Report("a2", b"pic-1", answer="AB", confidence=0.4, submitted_text="AC", accepted=True,
                                    created=2.0, path_confidence=0.5, reads=9, agreeing=4, **base))
    out["blue"] = store.add(Report("a3", b"pic-2", "blue", "K7", 0.99, "color_transform", "red", 4, "K7", True,
                                   created=3.0))
    out["other version"] = store.add(Report("a4", b"pic-3", answer="XY", confidence=0.8, submitted_text="XY",
                                            accepted=True, created=4.0, **{**base, "version": 3}))
    found = store.find("a2")
    out["find"] = (found.accepted, found.submitted_text, found.answer, found.verified)
    out["missing"] = store.find("nope")
    out["live"] = [(x.color, x.model, x.version, x.accepted, x.rejected) for x in store.live()]
    out["live_of"] = store.live_of("red", "red", 4).accuracy
    out["counts"] = store.counts()
    out["verdicts"] = [(v.path_confidence, v.reads, v.agreeing, v.route, v.accepted) for v in store.verdicts("red", 4)]
    out["samples"] = [(s.picture, s.color, s.label, s.source) for s in store.samples()]
    unverified = list(store.unverified())
    out["unverified"] = [(s.picture, s.color) for s in unverified]
    out["import"] = [store.import_label(s.id, "zz") for s in unverified] + [store.import_label(10**6, "zz")]
    out["imported"] = [(s.picture, s.label, s.source) for s in store.samples(verified=False)]
    return out


def test_both_engines_give_the_same_answers(tmp_path, postgres_url):
    sqlite = SQLiteStore(tmp_path / "f.db")
    postgres = open_store(postgres_url)
    try:
        expected, got = scenario(sqlite), scenario(postgres)
    finally:
        sqlite.close()
        postgres.close()
    assert got == expected
    assert expected["first"] == (True, False) and expected["again"] == (False, False)
    assert expected["human"] == (True, True) and expected["find"] == (True, "AC", "AB", True)
    assert expected["verdicts"] == [(0.95, 1, 1, "direct", False)]  # a2 was submitted by a person: not ours
    assert expected["samples"] == [(b"pic-1", "red", "AC", "verified"), (b"pic-2", "blue", "K7", "verified"),
                                   (b"pic-3", "red", "XY", "verified")]


def test_replicas_share_one_postgres_store(postgres_url):
    """Two stores opened on one database (two replicas starting together migrate once), reports
    through either, live accuracy over both."""
    from concurrent.futures import ThreadPoolExecutor
    with ThreadPoolExecutor(2) as pool:
        first, second = pool.map(lambda _: open_store(postgres_url), range(2))
    try:
        base = dict(color="red", confidence=0.9, route="direct", model="red", version=4)
        first.add(Report("r1", b"p1", answer="AB", submitted_text="AB", accepted=True, **base))
        second.add(Report("r2", b"p2", answer="CD", submitted_text="CD", accepted=False, **base))
        second.add(Report("r3", b"p1", answer="AB", submitted_text="AB", accepted=True, **base))  # the same picture
        live = first.live_of("red", "red", 4)
        assert (live.accepted, live.rejected) == (2, 1)
        assert first.counts()["samples"] == 2 and second.find("r1").verified
    finally:
        first.close()
        second.close()


def test_the_server_stores_reports_in_postgres(fake_models, postgres_url):
    from client import CaptchaClient
    from tests.fakes import FakeModel, solid_png
    from tests.server_harness import running
    with running(fake_models, FakeModel, feedback_store=postgres_url) as app:
        with CaptchaClient(f"127.0.0.1:{app.port}") as client:
            result = client.recognize(solid_png((10, 20, 200)), "blue")
            assert client.report(result, accepted=True) == (True, True)
            assert client.report(result, accepted=True) == (False, True)
            (live,) = client.live_accuracy()
            assert (live["color"], live["accepted"], live["rejected"]) == ("blue", 1, 0)
    store = open_store(postgres_url)
    try:
        assert store.find(result.answer_id).verified  # in the database, not only in the server's memory
    finally:
        store.close()


def test_an_unknown_scheme_is_refused_with_a_clear_message():
    with pytest.raises(ValueError, match="postgresql://"):
        open_store("mysql://somewhere/db")


def test_a_connection_the_server_dropped_is_opened_again(postgres_url):
    import psycopg

    from captcha_core.feedback import StoreUnavailable
    store = open_store(postgres_url)
    try:
        base = dict(color="red", confidence=0.9, route="direct", model="red", version=4)
        store.add(Report("k1", b"p1", answer="AB", submitted_text="AB", accepted=True, **base))
        with psycopg.connect(postgres_url, autocommit=True) as admin:  # what a restart does to it
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                          "WHERE datname = current_database() AND pid <> pg_backend_pid()")
        with pytest.raises(StoreUnavailable):  # the call that finds it broken: UNAVAILABLE, retried
            store.add(Report("k2", b"p2", answer="CD", submitted_text="CD", accepted=True, **base))
        assert store.add(Report("k2", b"p2", answer="CD", submitted_text="CD", accepted=True, **base)) == (True, True)
        assert store.counts()["samples"] == 2
    finally:
        store.close()


def test_readers_change_nothing_and_refuse_what_is_not_a_current_store(tmp_path, postgres_url):
    """``training``'s readers open the store with create=False: an empty database or a store of an
    older schema is refused, not created or migrated under the server's feet."""
    import sqlite3
    with pytest.raises(RuntimeError, match="schema version"):
        open_store(postgres_url, create=False)
    open_store(postgres_url).close()  # the server creates it
    reader = open_store(postgres_url, create=False)
    assert reader.counts()["samples"] == 0
    reader.close()
    old = tmp_path / "old.db"
    db = sqlite3.connect(old)
    db.executescript("CREATE TABLE schema_version (version INTEGER NOT NULL); INSERT INTO schema_version VALUES (1);")
    db.commit()
    db.close()
    with pytest.raises(RuntimeError, match="found 1"):
        open_store(old, create=False)
    assert sqlite3.connect(old).execute("SELECT version FROM schema_version").fetchall() == [(1,)]
