import pytest
from django.db import connection

from config.env import database_from_url


def test_database_url_is_parsed_with_jit_off_by_default():
    entry = database_from_url("postgres://boucle:s%40cret@db.example:6543/boucle_prod?sslmode=require")
    assert entry["ENGINE"] == "django.contrib.gis.db.backends.postgis"
    assert (entry["NAME"], entry["USER"], entry["PASSWORD"], entry["HOST"], entry["PORT"]) == (
        "boucle_prod",
        "boucle",
        "s@cret",
        "db.example",
        "6543",
    )
    assert entry["OPTIONS"] == {"sslmode": "require", "options": "-c jit=off"}


def test_a_url_may_set_its_own_server_options():
    entry = database_from_url("postgres://postgres@127.0.0.1/boucle?options=-c%20jit%3Don")
    assert entry["OPTIONS"] == {"options": "-c jit=on"}


def test_other_schemes_are_refused():
    with pytest.raises(RuntimeError, match="postgres://"):
        database_from_url("mysql://root@127.0.0.1/boucle")


@pytest.mark.django_db
def test_the_application_connection_runs_without_jit():
    with connection.cursor() as cursor:
        cursor.execute("SHOW jit")
        assert cursor.fetchone() == ("off",)
