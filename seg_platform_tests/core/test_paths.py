"""SQL_ROOT: the SQL models inside the package when installed, beside it in a checkout."""

from seg_platform.core.paths import SQL_ROOT, sql_root


def test_a_checkout_reads_the_top_level_folder(tmp_path):
    (tmp_path / "seg_platform").mkdir()
    assert sql_root(tmp_path / "seg_platform") == tmp_path / "dbt_like_sql"


def test_an_installed_package_reads_its_own_copy(tmp_path):
    (tmp_path / "seg_platform" / "dbt_like_sql").mkdir(parents=True)
    (tmp_path / "dbt_like_sql").mkdir()  # a stray folder beside it is not used
    assert sql_root(tmp_path / "seg_platform") == tmp_path / "seg_platform" / "dbt_like_sql"


def test_this_checkout_has_the_sql_models():
    assert any(SQL_ROOT.glob("*/*.sql"))
