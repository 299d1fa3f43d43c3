//! Finding 9: lookalike user and room names are refused (NFKC, no invisible or
//! direction-changing characters, uniqueness by confusable skeleton).

use smc::proto::Request;
use smc::Refusal;

use super::raw::Raw;
use super::{pair, start, still_chatting};
use crate::support::tempdir;

#[test]
fn lookalikes_of_a_user_or_a_room_cannot_register() {
    let dir = tempdir("adv_names");
    let server = start(&dir.join("server"), Default::default());
    let (mut alice, mut bob) = pair(&dir, &server, "general");
    for name in [
        "alice\u{200b}", // zero-width space
        "\u{202e}ecila", // right-to-left override
        "ali\u{0441}e",  // Cyrillic es
        "ALICE",         // case
        "ａｌｉｃｅ",    // full width (not NFKC)
        "a\u{301}lice",  // combining accent (not NFKC once composed? still a new skeleton)
        "bob\u{feff}",   // byte order mark
    ] {
        match Raw::hello(server.address(), name) {
            Err(Refusal::BadRequest { reason }) => {
                assert!(reason.contains(name) || reason.contains("name"), "{reason}")
            }
            Err(other) => panic!("{name:?}: {other:?}"),
            Ok(_) if name == "a\u{301}lice" => {} // a different name: á is not a
            Ok(_) => panic!("{name:?} registered beside alice and bob"),
        }
    }
    let mut mallory = Raw::hello(server.address(), "mallory").unwrap();
    for room in ["generaI", "gen\u{0435}ral", "GENERAL", "general\u{200d}"] {
        let refused = mallory.request(Request::CreateRoom {
            room: room.into(),
            group_info: None,
        });
        assert!(
            matches!(refused, Err(Refusal::BadRequest { .. })),
            "{room:?}: {refused:?}"
        );
    }
    still_chatting(&mut alice, &mut bob, "general", "the lookalikes");
}
