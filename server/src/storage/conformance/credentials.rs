//! Conformance checks of the credential lifecycle: expiry, last use, listing, revocation and
//! rotation of admin tokens, API tokens and enrollment codes, each scoped to an agency.

use super::*;
use crate::roles::Grant;

const DAY: u64 = 86_400_000;

fn user_of(store: &dyn Storage, code: &str, role: Role) -> User {
    let a = agency(code);
    if !store.agency_exists(&a).unwrap() {
        store.create_agency(&a, "Agency", NOW).unwrap();
    }
    store
        .create_user(
            &NewUser {
                agency: a,
                role,
                display_name: "Staff".into(),
            },
            NOW,
        )
        .unwrap()
}

fn admin_token(hash: u8, scope: AdminScope, expires_at_ms: u64) -> NewAdminToken {
    NewAdminToken {
        token_hash: [hash; 32],
        scope,
        label: format!("token {hash}"),
        created_at_ms: NOW,
        expires_at_ms,
    }
}

pub fn admin_tokens_expire_rotate_and_revoke_within_scope(store: &dyn Storage) {
    store.create_agency(&agency("agency_a"), "A", NOW).unwrap();
    store.create_agency(&agency("agency_b"), "B", NOW).unwrap();
    let system = store
        .create_admin_token(&admin_token(1, AdminScope::System, NOW + DAY))
        .unwrap();
    let a = store
        .create_admin_token(&admin_token(
            2,
            AdminScope::Agency(agency("agency_a")),
            NOW + DAY,
        ))
        .unwrap();
    let b = store
        .create_admin_token(&admin_token(
            3,
            AdminScope::Agency(agency("agency_b")),
            NOW + DAY,
        ))
        .unwrap();
    assert_ne!(a, b);

    // Expiry: live until `expires_at`, then gone; the system admin counts as missing too.
    assert!(store
        .admin_by_token(&[1; 32], NOW + DAY - 1)
        .unwrap()
        .is_some());
    assert!(store.admin_by_token(&[1; 32], NOW + DAY).unwrap().is_none());
    assert!(store.has_system_admin(NOW).unwrap());
    assert!(!store.has_system_admin(NOW + DAY).unwrap());

    // Listing: scoped, with the last use recorded.
    let all = store.list_admin_tokens(None).unwrap();
    assert_eq!(all.len(), 3);
    let listed = store.list_admin_tokens(Some(&agency("agency_a"))).unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, a);
    assert_eq!(listed[0].expires_at_ms, NOW + DAY);
    assert_eq!(listed[0].last_used_at_ms, None);
    store.admin_by_token(&[2; 32], NOW + 5).unwrap().unwrap();
    let listed = store.list_admin_tokens(Some(&agency("agency_a"))).unwrap();
    assert_eq!(listed[0].last_used_at_ms, Some(NOW + 5));

    // Revocation: another agency's token is unknown; revoking twice keeps the first time.
    let a_scope = Some(agency("agency_a"));
    assert!(store
        .revoke_admin_token(&b, a_scope.as_ref(), NOW)
        .unwrap()
        .is_none());
    assert!(store.admin_by_token(&[3; 32], NOW).unwrap().is_some());
    assert!(store
        .revoke_admin_token(&system, a_scope.as_ref(), NOW)
        .unwrap()
        .is_none());
    let revoked = store
        .revoke_admin_token(&b, None, NOW + 1)
        .unwrap()
        .unwrap();
    assert_eq!(revoked.revoked_at_ms, Some(NOW + 1));
    let again = store
        .revoke_admin_token(&b, None, NOW + 2)
        .unwrap()
        .unwrap();
    assert_eq!(again.revoked_at_ms, Some(NOW + 1));
    assert!(store.admin_by_token(&[3; 32], NOW + 2).unwrap().is_none());
    assert!(store
        .revoke_admin_token("nope", None, NOW)
        .unwrap()
        .is_none());

    // Rotation: the new token lives, the old one does not; a dead or foreign one rotates
    // nothing.
    let new = admin_token(4, AdminScope::Agency(agency("agency_a")), NOW + 2 * DAY);
    let rotated = store
        .rotate_admin_token(&a, &new, NOW + 3)
        .unwrap()
        .unwrap();
    assert!(store.admin_by_token(&[2; 32], NOW + 3).unwrap().is_none());
    assert_eq!(
        store.admin_by_token(&[4; 32], NOW + 3).unwrap().unwrap().id,
        rotated
    );
    let again = admin_token(5, AdminScope::Agency(agency("agency_a")), NOW + 2 * DAY);
    assert!(store
        .rotate_admin_token(&a, &again, NOW + 4)
        .unwrap()
        .is_none());
    let foreign = admin_token(6, AdminScope::Agency(agency("agency_b")), NOW + 2 * DAY);
    assert!(store
        .rotate_admin_token(&rotated, &foreign, NOW + 4)
        .unwrap()
        .is_none());
    assert!(store.admin_by_token(&[5; 32], NOW + 4).unwrap().is_none());
    assert!(store.admin_by_token(&[6; 32], NOW + 4).unwrap().is_none());
    assert!(store.admin_by_token(&[4; 32], NOW + 4).unwrap().is_some());
}

pub fn api_tokens_expire_and_revoke_one_by_one_within_scope(store: &dyn Storage) {
    let analyst = user_of(store, "agency_a", Role::Analyst);
    let other = user_of(store, "agency_b", Role::Analyst);
    let token = |hash: &str, user: &User, limited: bool| NewApiToken {
        token_hash: hash_secret(SecretKind::ApiToken, hash),
        user_id: user.id.clone(),
        limited_to: limited.then(|| user.agency.clone()),
        grants: if limited {
            Default::default()
        } else {
            [Grant::ExactCounts].into()
        },
        label: hash.into(),
        created_at_ms: NOW,
        expires_at_ms: NOW + DAY,
    };
    let limited = store.create_api_token(&token("l", &analyst, true)).unwrap();
    let wide = store
        .create_api_token(&token("w", &analyst, false))
        .unwrap();
    let foreign = store.create_api_token(&token("f", &other, true)).unwrap();
    let lookup = |secret: &str, at: u64| {
        store
            .api_token_user(&hash_secret(SecretKind::ApiToken, secret), at)
            .unwrap()
    };
    assert_eq!(
        lookup("l", NOW).unwrap().limited_to,
        Some(agency("agency_a"))
    );
    assert_eq!(lookup("w", NOW).unwrap().limited_to, None);
    assert!(lookup("w", NOW + DAY).is_none(), "expired at expires_at");

    let a = Some(agency("agency_a"));
    let listed = store.list_api_tokens(a.as_ref()).unwrap();
    let ids: Vec<_> = listed.iter().map(|t| t.id.clone()).collect();
    assert_eq!(ids.len(), 2);
    assert!(ids.contains(&limited) && ids.contains(&wide));
    assert!(listed.iter().any(|t| t.last_used_at_ms == Some(NOW)));
    assert_eq!(store.list_api_tokens(None).unwrap().len(), 3);

    assert!(store
        .revoke_api_token(&foreign, a.as_ref(), NOW)
        .unwrap()
        .is_none());
    assert!(
        lookup("f", NOW).is_some(),
        "another agency's token is untouched"
    );
    let revoked = store
        .revoke_api_token(&limited, a.as_ref(), NOW + 1)
        .unwrap()
        .unwrap();
    assert_eq!(revoked.revoked_at_ms, Some(NOW + 1));
    assert!(lookup("l", NOW + 1).is_none());
    assert!(lookup("w", NOW + 1).is_some(), "only that one token");
}

pub fn enrollment_codes_can_be_revoked_within_scope(store: &dyn Storage) {
    let a_user = user_of(store, "agency_a", Role::Caseworker);
    let b_user = user_of(store, "agency_b", Role::Caseworker);
    let code = |secret: &str, user: &User| NewEnrollmentCode {
        code_hash: hash_secret(SecretKind::EnrollmentCode, secret),
        user_id: user.id.clone(),
        agency: user.agency.clone(),
        created_at_ms: NOW,
        expires_at_ms: NOW + DAY,
    };
    let a_code = store.create_enrollment_code(&code("A", &a_user)).unwrap();
    let b_code = store.create_enrollment_code(&code("B", &b_user)).unwrap();
    let used = store.create_enrollment_code(&code("U", &a_user)).unwrap();
    let device = |n: u8| NewDevice {
        id: DeviceId::from_bytes([n; 16]),
        label: "p".into(),
        credential_hash: [n; 32],
    };
    let redeem = |secret: &str, n: u8| {
        store
            .redeem_enrollment_code(
                &hash_secret(SecretKind::EnrollmentCode, secret),
                &device(n),
                NOW,
            )
            .unwrap()
    };
    assert!(redeem("U", 1).is_some());

    let a = Some(agency("agency_a"));
    let listed = store.list_enrollment_codes(a.as_ref()).unwrap();
    assert_eq!(listed.len(), 2);
    assert!(listed.iter().all(|c| c.agency == agency("agency_a")));
    assert_eq!(
        listed.iter().find(|c| c.id == used).unwrap().used_at_ms,
        Some(NOW)
    );

    assert!(store
        .revoke_enrollment_code(&b_code, a.as_ref(), NOW)
        .unwrap()
        .is_none());
    let revoked = store
        .revoke_enrollment_code(&a_code, a.as_ref(), NOW)
        .unwrap()
        .unwrap();
    assert_eq!(revoked.revoked_at_ms, Some(NOW));
    assert!(redeem("A", 2).is_none(), "a revoked code cannot enroll");
    assert!(
        redeem("B", 3).is_some(),
        "another agency's code is untouched"
    );
    let used = store
        .revoke_enrollment_code(&used, None, NOW)
        .unwrap()
        .unwrap();
    assert_eq!(used.revoked_at_ms, None, "a used code stays as it was");
}

/// Device credentials: found in each slot, staged, promoted once (compare-and-set), retired,
/// renewed within scope.
pub fn device_credentials_rotate_retire_and_renew_within_scope(store: &dyn Storage) {
    let device = super::enrolled_device(store, "rot_a");
    assert_eq!(device.credential, CredentialSlot::Current);
    assert_eq!(device.credential_issued_at_ms, NOW);
    let current = device_credential_hash(store, &device);

    let first = hash_secret(SecretKind::DeviceCredential, "staged first, reply lost");
    let next = hash_secret(SecretKind::DeviceCredential, "staged second");
    store.stage_device_credential(device.id, &first).unwrap();
    store.stage_device_credential(device.id, &next).unwrap();
    assert_eq!(
        store
            .device_by_credential(&first)
            .unwrap()
            .unwrap()
            .credential,
        CredentialSlot::Superseded,
        "a stage replaces the one before it, which is kept as superseded"
    );
    let found = store.device_by_credential(&next).unwrap().unwrap();
    assert_eq!(
        (found.id, found.credential),
        (device.id, CredentialSlot::Next)
    );
    assert_eq!(
        store
            .device_by_credential(&current)
            .unwrap()
            .unwrap()
            .credential,
        CredentialSlot::Current,
        "the current credential works until the next one is used"
    );

    assert!(!store
        .promote_device_credential(device.id, &first, NOW + 5)
        .unwrap());
    assert!(store
        .promote_device_credential(device.id, &next, NOW + 5)
        .unwrap());
    assert!(
        !store
            .promote_device_credential(device.id, &next, NOW + 6)
            .unwrap(),
        "promoted once"
    );
    let promoted = store.device_by_credential(&next).unwrap().unwrap();
    assert_eq!(promoted.credential, CredentialSlot::Current);
    assert_eq!(promoted.credential_issued_at_ms, NOW + 5);
    let retired = store.device_by_credential(&current).unwrap().unwrap();
    assert_eq!(
        (retired.id, retired.credential),
        (device.id, CredentialSlot::Retired)
    );

    // Renewal restarts the lifetime, within scope only.
    let other = agency("rot_b");
    store.create_agency(&other, "Other", NOW).unwrap();
    assert!(store
        .renew_device_credential(device.id, Some(&other), NOW + 9)
        .unwrap()
        .is_none());
    assert_eq!(
        store
            .device_by_credential(&next)
            .unwrap()
            .unwrap()
            .credential_issued_at_ms,
        NOW + 5
    );
    let renewed = store
        .renew_device_credential(device.id, Some(&device.agency), NOW + 10)
        .unwrap()
        .expect("in scope");
    assert_eq!(renewed.id, device.id);
    assert_eq!(
        store
            .device_by_credential(&next)
            .unwrap()
            .unwrap()
            .credential_issued_at_ms,
        NOW + 10
    );
}

/// The hash a freshly enrolled device was found by (its only credential).
fn device_credential_hash(
    store: &dyn Storage,
    device: &DeviceAuth,
) -> crate::credentials::SecretHash {
    // The conformance helper enrolls with a random credential; stage and promote a known one
    // so the test knows the hash of the device's current credential.
    let known = hash_secret(SecretKind::DeviceCredential, "known current");
    store.stage_device_credential(device.id, &known).unwrap();
    assert!(store
        .promote_device_credential(device.id, &known, NOW)
        .unwrap());
    known
}
