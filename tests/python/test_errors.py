"""The C status codes and the Python exceptions follow one classification of errors
(``smc::ErrorKind``): for every kind, the status C returns and the class Python raises
must mean the same thing."""

from __future__ import annotations

import smc
from smc import _smc

# What each C status stands for, as Python classes.
AGREE: dict[str, set[type[BaseException]]] = {
    "SMC_UNSUPPORTED_CHARACTER": {smc.UnsupportedCharacter},
    "SMC_NOT_COPRIME": {smc.NotCoprime},
    "SMC_INVALID_ARGUMENT": {smc.NotATableEntry, smc.InvalidRequest},
    "SMC_INVALID_UTF8": {smc.NotText},
    "SMC_IO_ERROR": {smc.SmcIOError},
    "SMC_CONNECTION_CLOSED": {smc.ConnectionClosed},
    "SMC_TIMEOUT": {smc.RequestTimeout},
    "SMC_MESSAGE_TOO_LONG": {smc.MessageTooLong},
    "SMC_PROTOCOL_ERROR": {smc.ProtocolError},
    "SMC_SERVER_KEY_CHANGED": {smc.ServerKeyChanged, smc.ServerNotTrusted},
    "SMC_NOT_A_MEMBER": {smc.NotAMember},
    "SMC_UNKNOWN_USER": {smc.UnknownUser},
    "SMC_UNKNOWN_ROOM": {smc.UnknownRoom},
    "SMC_NAME_TAKEN": {smc.NameTaken},
    "SMC_ROOM_EXISTS": {smc.RoomExists},
    "SMC_REFUSED": {
        smc.NotInvited,
        smc.RegistrationRefused,
        smc.StaleEpoch,
        smc.NoKeyPackage,
        smc.RateLimited,
        smc.QuotaExceeded,
        smc.InvalidRequest,
        smc.ServerFailure,
    },
    "SMC_STORAGE_FULL": {smc.StorageFull},
    "SMC_FILE_UNAVAILABLE": {smc.FileUnavailable},
    "SMC_CANCELLED": {smc.Cancelled},
    "SMC_DEVICE_REVOKED": {smc.DeviceRevoked},
    "SMC_LINK_REFUSED": {smc.LinkRefused},
    "SMC_KEY_CHANGED": {smc.KeyChanged},
    "SMC_UNDECRYPTABLE": {smc.Undecryptable},
    "SMC_WRONG_PASSPHRASE": {smc.WrongPassphrase},
    "SMC_ENCRYPTION_ERROR": {smc.EncryptionError},
}


def test_every_error_kind_means_the_same_in_c_and_in_python() -> None:
    rows = _smc._error_kinds()
    kinds = [kind for kind, _, _ in rows]
    assert len(kinds) == len(set(kinds)) > 30
    disagree = [
        (kind, status, type(exc).__name__)
        for kind, status, exc in rows
        if type(exc) not in AGREE.get(status, set())
    ]
    assert disagree == []
    for _, _, exc in rows:
        assert isinstance(exc, smc.SmcError)


def test_a_server_that_is_not_the_trusted_one_names_both_fingerprints(tmp_path) -> None:
    with smc.Server(tmp_path / "server") as server:
        alice = smc.Client(tmp_path / "a", "alice")
        wanted = "AAAA " * 8
        try:
            alice.connect(server.address, fingerprint=wanted)
        except smc.ServerNotTrusted as e:
            assert e.expected == wanted
            assert e.presented == server.fingerprint
            assert e.pinned is None
            assert isinstance(e, smc.ServerKeyChanged)
        else:
            raise AssertionError("an untrusted server was accepted")
        alice.close()
