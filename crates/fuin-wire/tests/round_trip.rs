//! Property tests: every valid frame survives encode → decode unchanged, and
//! the typed encoders agree byte for byte with the frame encoder.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod strategies;

use fuin_wire::*;
use proptest::prelude::*;

/// Encodes `body` through its typed encoder and through [`Frame`], checks the
/// bytes agree, and decodes them back to the same body.
fn check_body<T>(body: T) -> Result<(), TestCaseError>
where
    T: FrameBody<'static> + Clone + PartialEq + std::fmt::Debug,
{
    let typed = body.to_bytes().unwrap();
    let frame: Frame<'static> = body.clone().into();
    prop_assert_eq!(&frame.encode().unwrap(), &typed);
    let decoded = Frame::decode(&typed).unwrap().into_owned();
    prop_assert_eq!(&decoded, &frame);
    prop_assert_eq!(T::from_frame(decoded), Some(body));
    Ok(())
}

proptest! {
    #[test]
    fn any_frame_round_trips(frame in strategies::frame()) {
        let bytes = frame.encode().unwrap();
        prop_assert_eq!(bytes[0], WIRE_VERSION);
        prop_assert_eq!(u32::from(bytes[1]), frame.kind().tag());
        let decoded = Frame::decode(&bytes).unwrap();
        prop_assert_eq!(&decoded, &frame);
        prop_assert_eq!(decoded.encode().unwrap(), bytes);
    }

    #[test]
    fn identity_round_trips(identity in strategies::identity()) {
        check_body(identity)?;
    }

    #[test]
    fn prekey_bundle_round_trips(bundle in strategies::bundle()) {
        check_body(bundle)?;
    }

    #[test]
    fn envelope_round_trips(envelope in strategies::envelope()) {
        check_body(envelope)?;
    }

    #[test]
    fn delivered_record_round_trips(record in strategies::delivered()) {
        check_body(record)?;
    }

    #[test]
    fn blob_id_round_trips(id in any::<[u8; 32]>()) {
        check_body(BlobId(id))?;
    }

    #[test]
    fn sealed_report_round_trips(report in strategies::sealed_report()) {
        check_body(report)?;
    }

    #[test]
    fn ratchet_message_round_trips(message in strategies::ratchet_message()) {
        check_body(message)?;
    }

    #[test]
    fn prekey_message_round_trips(message in strategies::prekey_message()) {
        check_body(message)?;
    }

    #[test]
    fn message_content_round_trips(content in strategies::message_content()) {
        check_body(content)?;
    }

    #[test]
    fn device_registration_round_trips(body in strategies::device_registration()) {
        check_body(body)?;
    }

    #[test]
    fn challenge_request_round_trips(body in strategies::challenge_request()) {
        check_body(body)?;
    }

    #[test]
    fn auth_challenge_round_trips(body in strategies::auth_challenge()) {
        check_body(body)?;
    }

    #[test]
    fn challenge_response_round_trips(body in strategies::challenge_response()) {
        check_body(body)?;
    }

    #[test]
    fn auth_token_round_trips(body in strategies::auth_token()) {
        check_body(body)?;
    }

    #[test]
    fn prekey_upload_round_trips(body in strategies::prekey_upload()) {
        check_body(body)?;
    }

    #[test]
    fn prekey_count_round_trips(body in strategies::prekey_count()) {
        check_body(body)?;
    }

    #[test]
    fn bundle_set_round_trips(body in strategies::bundle_set()) {
        check_body(body)?;
    }

    #[test]
    fn send_batch_round_trips(body in strategies::send_batch()) {
        check_body(body)?;
    }

    #[test]
    fn send_accepted_round_trips(body in strategies::send_accepted()) {
        check_body(body)?;
    }

    #[test]
    fn mailbox_batch_round_trips(body in strategies::mailbox_batch()) {
        check_body(body)?;
    }

    #[test]
    fn acknowledgement_round_trips(body in strategies::acknowledgement()) {
        check_body(body)?;
    }

    #[test]
    fn blob_receipt_round_trips(body in strategies::blob_receipt()) {
        check_body(body)?;
    }

    #[test]
    fn report_accepted_round_trips(body in strategies::report_accepted()) {
        check_body(body)?;
    }

    #[test]
    fn report_batch_round_trips(body in strategies::report_batch()) {
        check_body(body)?;
    }

    #[test]
    fn report_acknowledgement_round_trips(body in strategies::report_acknowledgement()) {
        check_body(body)?;
    }

    #[test]
    fn device_list_round_trips(body in strategies::device_list()) {
        check_body(body)?;
    }

    #[test]
    fn sender_key_distribution_round_trips(body in strategies::sender_key_distribution()) {
        check_body(body)?;
    }

    #[test]
    fn group_message_round_trips(body in strategies::group_message()) {
        check_body(body)?;
    }

    #[test]
    fn group_content_round_trips(body in strategies::group_content()) {
        check_body(body)?;
    }

    #[test]
    fn group_control_round_trips(body in strategies::group_control()) {
        check_body(body)?;
    }

    #[test]
    fn group_welcome_round_trips(body in strategies::group_welcome()) {
        check_body(body)?;
    }

    #[test]
    fn group_send_round_trips(body in strategies::group_send()) {
        check_body(body)?;
    }

    #[test]
    fn group_send_hands_each_recipient_the_same_envelope(body in strategies::group_send()) {
        for recipient in body.recipients.as_slice() {
            let envelope = body.envelope_for(recipient);
            prop_assert_eq!(&envelope.recipient, recipient);
            prop_assert_eq!(envelope.content_kind, ContentKind::GroupMessage);
            prop_assert_eq!(envelope.franking_commitment, body.franking_commitment);
            prop_assert_eq!(envelope.sealed_body.as_bytes(), body.sealed_body.as_bytes());
            // Borrowed from the request: fanning out copies nothing.
            prop_assert!(envelope.sealed_body.is_borrowed());
        }
        if let Some(first) = body.recipients.as_slice().first() {
            prop_assert!(body.envelope_for(first).to_bytes().is_ok());
        }
    }

    #[test]
    fn owned_copy_equals_the_borrowed_frame(frame in strategies::frame()) {
        let bytes = frame.encode().unwrap();
        let decoded = Frame::decode(&bytes).unwrap();
        prop_assert_eq!(decoded.clone().into_owned(), decoded);
    }

    #[test]
    fn delivered_stamp_input_is_the_canonical_function(record in strategies::delivered()) {
        prop_assert_eq!(
            record.stamp_input(),
            franking_stamp_input(
                &record.envelope.franking_commitment,
                &record.sender,
                &record.envelope.recipient,
                record.server_time_ms,
                &record.server_message_id,
                record.stamp_key_id,
            )
        );
    }
}
