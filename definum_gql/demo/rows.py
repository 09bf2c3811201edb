"""Fixed contents of the demo site (configuration, names, courses) and row builders."""

from __future__ import annotations

import re
import unicodedata

from definum_gql.demo.model import ADMIN_ID, GUEST_ID, Row

CONFIG = {
    "timezone": "Europe/Paris",
    "forcetimezone": "99",
    "lang": "en",
    "badges_allowcoursebadges": "1",
    "enablebadges": "1",
    "mnet_localhost_id": "1",
    "siteadmins": str(ADMIN_ID),
    "siteguest": str(GUEST_ID),
    "enablewebservices": "1",
    "webserviceprotocols": "rest",
    "maintenance_enabled": "0",
    "defaultuserroleid": "7",
    "release": "4.1.10 (Build: 20240422)",
    "version": "2022112810.00",
}
USE_STATS = {"threshold": "60", "lastpingcredit": "15", "enrolmentfilter": "1"}
ROLES = (
    "manager",
    "coursecreator",
    "editingteacher",
    "teacher",
    "student",
    "guest",
    "user",
    "frontpage",
)
ISSUER = ("Université Définum", "https://definum.example.org/", "badges@definum.example.org")

FIRST_NAMES = (
    "Chloé", "Jürgen", "Zoë", "Amélie", "Łukasz", "José", "Noémie", "Søren", "Inès", "Björn",
    "Anaïs", "François", "Maëlle", "Ömer", "Hélène", "Thomas", "Sarah", "Lucas", "Emma", "Hugo",
    "Léa", "Nathan", "Camille", "Jules", "Manon", "Louis", "Alice", "Paul", "Sofia", "Adam",
    "花子", "太郎", "美咲", "Олег", "Αθηνά", "محمد",
)  # fmt: skip
LAST_NAMES = (
    "Müller", "Dubois", "Lefèvre", "Øvergård", "García", "Nguyễn", "Martin", "Bernard", "Petit",
    "Durand", "Moreau", "Laurent", "Simon", "Michel", "Leroy", "Roux", "David", "Bertrand",
    "O'Brien", "Kowalski", "Schäfer", "Fontaine", "Chevalier", "Rousseau", "Blanc", "Guérin",
    "山田", "佐藤", "漢字", "Иванов", "Παπαδόπουλος",
)  # fmt: skip
CATEGORIES = ("Sciences", "Langues & Lettres", "Formation continue")
COURSE_TOPICS = (
    ("MATH", "Mathématiques discrètes"),
    ("PHYS", "Physique générale"),
    ("CHEM", "Chimie organique"),
    ("HIST", "Histoire de l'Europe"),
    ("LANG", "Japonais — 日本語入門"),
    ("ECON", "Économie & gestion"),
    ("INFO", "Programmation Python"),
    ("BIOL", "Biologie cellulaire"),
    ("PHIL", "Philosophie: <i>éthique</i>"),
    ("SECU", "Sécurité informatique"),
    ("DATA", "Données et statistiques"),
    ("GERM", "Deutsch für Anfänger: Übungen"),
)
MODULES = ("page", "quiz", "assign", "forum", "resource", "url")

_LETTERS = str.maketrans({"ł": "l", "Ł": "L", "ø": "o", "Ø": "O", "ß": "ss", "æ": "ae", "đ": "d"})
_TAG = re.compile(r"<[^>]*>")


def ascii_letters(text: str) -> str:
    """The ASCII letters of a name, as a username would carry them."""
    text = _TAG.sub("", text).translate(_LETTERS)
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(ch for ch in plain.lower() if ch.isalnum())


def course_row(
    course_id: int,
    category: int,
    sortorder: int,
    fullname: str,
    shortname: str,
    fmt: str,
    completion: int,
    visible: int,
    startdate: int,
    enddate: int,
) -> Row:
    return {
        "id": course_id,
        "category": category,
        "sortorder": sortorder,
        "fullname": fullname,
        "shortname": shortname,
        "idnumber": "" if fmt == "site" else shortname,
        "summary": "",
        "summaryformat": 1,
        "format": fmt,
        "startdate": startdate,
        "enddate": enddate,
        "visible": visible,
        "visibleold": visible,
        "enablecompletion": completion,
        "timecreated": startdate,
        "timemodified": startdate,
        "cacherev": startdate,
    }


def user_row(uid: int, username: str, first: str, last: str, email: str, created: int) -> Row:
    return {
        "id": uid,
        "auth": "manual",
        "confirmed": 1,
        "deleted": 0,
        "suspended": 0,
        "mnethostid": 1,
        "username": username,
        "password": "$2y$10$demo.not.a.real.hash",
        "idnumber": "",
        "firstname": first,
        "lastname": last,
        "email": email,
        "lang": "en",
        "firstaccess": 0,
        "lastaccess": 0,
        "lastlogin": 0,
        "currentlogin": 0,
        "lastip": "",
        "description": None,
        "timecreated": created,
        "timemodified": created,
    }


def badge_row(
    badge_id: int, name: str, status: int, course_id: int | None, expiredate: int | None, t: int
) -> Row:
    return {
        "id": badge_id,
        "name": name,
        "description": f"Badge « {name} »",
        "timecreated": t,
        "timemodified": t,
        "usercreated": ADMIN_ID,
        "usermodified": ADMIN_ID,
        "issuername": ISSUER[0],
        "issuerurl": ISSUER[1],
        "issuercontact": ISSUER[2],
        "expiredate": expiredate,
        "expireperiod": None,
        "type": 1 if course_id is None else 2,
        "courseid": course_id,
        "message": "Félicitations !",
        "messagesubject": "Vous avez obtenu un badge",
        "attachment": 1,
        "notification": 0,
        "status": status,
        "version": "1",
        "language": "fr",
    }


def completion_row(row_id: int, uid: int, course_id: int, begun: int, done: int | None) -> Row:
    return {
        "id": row_id,
        "userid": uid,
        "course": course_id,
        "timeenrolled": begun,
        "timestarted": begun,
        "timecompleted": done,
        "reaggregate": 0,
    }
