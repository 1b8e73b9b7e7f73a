//! RS256 JSON Web Tokens (RFC 7515/7519), the assertion of Google's JWT-bearer grant.

use base64ct::{Base64UrlUnpadded, Encoding};
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::pkcs8::DecodePrivateKey;
use rsa::sha2::Sha256;
use zeroize::Zeroizing;

use super::MintError;

/// An RSA private key from PEM: PKCS#8 (`BEGIN PRIVATE KEY`, what Google issues) or PKCS#1
/// (`BEGIN RSA PRIVATE KEY`). The key wipes itself when dropped.
pub fn rsa_key(pem: &str) -> Result<rsa::PrivateKey, MintError> {
    let pem = pem.trim();
    let key = if pem.starts_with("-----BEGIN RSA PRIVATE KEY-----") {
        rsa::PrivateKey::from_pkcs1_pem(pem).map_err(|e| e.to_string())
    } else {
        rsa::PrivateKey::from_pkcs8_pem(pem).map_err(|e| e.to_string())
    };
    key.map_err(|why| {
        MintError::BadMaterial(format!(
            "private_key is not an RSA private key in PEM ({why}); use the key file as Google \
             issued it"
        ))
    })
}

/// `b64url(header).b64url(claims).b64url(signature)`, signed RSASSA-PKCS1-v1_5 with SHA-256.
pub fn sign(
    header: &serde_json::Value,
    claims: &serde_json::Value,
    key: &rsa::PrivateKey,
) -> Result<Zeroizing<String>, MintError> {
    let mut token = Zeroizing::new(String::with_capacity(2048));
    token.push_str(&Base64UrlUnpadded::encode_string(
        header.to_string().as_bytes(),
    ));
    token.push('.');
    token.push_str(&Base64UrlUnpadded::encode_string(
        claims.to_string().as_bytes(),
    ));
    let signature = key
        .pkcs1v15_sign::<Sha256>(token.as_bytes())
        .map(Zeroizing::new)
        .map_err(|e| MintError::BadMaterial(format!("cannot sign with private_key: {e}")))?;
    token.push('.');
    token.push_str(&Zeroizing::new(Base64UrlUnpadded::encode_string(
        &signature,
    )));
    Ok(token)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rsa::pkcs1::EncodeRsaPrivateKey;
    use rsa::pkcs8::{EncodePrivateKey, LineEnding};

    fn key() -> rsa::PrivateKey {
        rsa::PrivateKey::new(&mut getrandom::SysRng, 2048).unwrap()
    }

    #[test]
    fn signs_a_verifiable_token_with_both_key_encodings() {
        let key = key();
        let pkcs8 = key.to_pkcs8_pem(LineEnding::LF).unwrap();
        let pkcs1 = key.to_pkcs1_pem(LineEnding::LF).unwrap();
        for pem in [pkcs8.as_str(), pkcs1.as_str()] {
            let header = serde_json::json!({"alg": "RS256", "typ": "JWT"});
            let claims = serde_json::json!({"iss": "a@b"});
            let token = sign(&header, &claims, &rsa_key(pem).unwrap()).unwrap();
            let (input, signature) = token.rsplit_once('.').unwrap();
            let signature = Base64UrlUnpadded::decode_vec(signature).unwrap();
            key.to_public_key()
                .pkcs1v15_verify::<Sha256>(input.as_bytes(), &signature)
                .unwrap();
            let claims_part = input.split('.').nth(1).unwrap();
            assert_eq!(
                Base64UrlUnpadded::decode_vec(claims_part).unwrap(),
                br#"{"iss":"a@b"}"#
            );
        }
    }

    #[test]
    fn a_broken_key_is_bad_material() {
        let err =
            rsa_key("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----").unwrap_err();
        assert!(matches!(err, MintError::BadMaterial(_)), "{err}");
    }
}
