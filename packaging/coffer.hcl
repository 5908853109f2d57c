# Coffer server configuration, installed by the coffer package as
# /etc/coffer.d/coffer.hcl. It starts as it is: file storage under
# /var/lib/coffer, the Shamir seal (unseal keys held by operators) and a
# plain-HTTP listener on loopback only. Every setting, with its default, is
# described in /usr/share/doc/coffer/example.hcl; the package keeps your
# changes to this file across upgrades.
#
# First start:
#   sudo systemctl enable --now coffer
#   export VAULT_ADDR=http://127.0.0.1:8200
#   coffer operator init        # prints the unseal keys and root token once
#   coffer operator unseal      # three times, with three different keys

storage "file" {
  path = "/var/lib/coffer/data"
}

listener "tcp" {
  address = "127.0.0.1:8200"
  # Loopback only, so plain HTTP. Before listening on another address give
  # the server a certificate and remove tls_disable:
  #   tls_cert_file = "/etc/coffer.d/tls/coffer.crt"
  #   tls_key_file  = "/etc/coffer.d/tls/coffer.key"
  tls_disable = "true"
}

api_addr = "http://127.0.0.1:8200"

# Auto-unseal with an HSM instead of unseal keys: uncomment, fill in the
# module and key labels, and put the PIN in /etc/coffer.d/coffer.env as
# VAULT_HSM_PIN=... (the coffer user must be able to open the module and
# the token: for SoftHSM2, add it to the softhsm group). "With an HSM" in
# /usr/share/doc/coffer/README.md has the details; `coffer operator init`
# then gives recovery keys instead of unseal keys.
#
# seal "pkcs11" {
#   lib            = "/usr/lib/softhsm/libsofthsm2.so"
#   token_label    = "coffer"
#   key_label      = "coffer-root"
#   hmac_key_label = "coffer-hmac"
#   mechanism      = "0x1087"
#   generate_key   = "true"
# }
#
# entropy "seal" {
#   mode = "augmentation"
# }
