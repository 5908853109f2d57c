# Coffer server configuration: `coffer server -config=/etc/coffer/coffer.hcl`
#
# The syntax is Vault's: a file written for `vault server` with these stanzas
# works unchanged. Every field Coffer knows is shown below; commented-out lines
# show optional fields with their defaults. Unknown fields are errors (with
# file and line), so a typo never silently falls back to a default.
#
# -config may be given several times and may name a directory: every *.hcl and
# *.json file in it is loaded in name order. Later files override single values
# (ui, log_level, ...); listener and seal stanzas add up; storage and entropy
# may appear only once overall. A .json file uses the same names:
#   {"seal": {"pkcs11": {...}}, "listener": [{"tcp": {...}}], "ui": true}
#
# Values may be quoted or bare: slot = "0" and slot = 0 are the same, as are
# generate_key = "true" and generate_key = true. Numbers may be decimal or
# "0x"-hex (hex must be quoted). HCL needs each attribute of a block on its own
# line (`seal "pkcs11" { lib = "/x" slot = "0" }` on one line is an error).

# ---------------------------------------------------------------------------
# Seal: what protects the root key. Without a seal stanza Coffer uses Shamir
# unseal keys. With "pkcs11" an HSM key wraps the root key (auto-unseal).
#
# Every pkcs11 field can also come from an environment variable, which wins over
# this file: VAULT_HSM_LIB, VAULT_HSM_SLOT, VAULT_HSM_TOKEN_LABEL, VAULT_HSM_PIN,
# VAULT_HSM_KEY_LABEL, VAULT_HSM_DEFAULT_KEY_LABEL, VAULT_HSM_KEY_ID,
# VAULT_HSM_HMAC_KEY_LABEL, VAULT_HSM_HMAC_DEFAULT_KEY_LABEL, VAULT_HSM_HMAC_KEY_ID,
# VAULT_HSM_MECHANISM, VAULT_HSM_HMAC_MECHANISM, VAULT_HSM_GENERATE_KEY,
# VAULT_HSM_FORCE_RW_SESSION, VAULT_HSM_MAX_PARALLEL, VAULT_HSM_RSA_ENCRYPT_LOCAL,
# VAULT_HSM_RSA_OAEP_HASH. VAULT_SEAL_TYPE=pkcs11 plus VAULT_HSM_LIB (and the
# other required values) configures the seal with no stanza at all.
seal "pkcs11" {
  # Path of the vendor's PKCS#11 module. Required.
  lib = "/usr/lib/softhsm/libsofthsm2.so"

  # Which token: token_label (recommended: slot numbers can change when tokens
  # are added) or slot (decimal or "0x"-hex). One of the two is required.
  token_label = "coffer"
  # slot = "0"

  # User PIN. Required, but keep it out of this file: set VAULT_HSM_PIN in the
  # service's environment instead (e.g. a systemd EnvironmentFile readable by
  # root only). It is never printed or logged.
  # pin = "..."

  # Label of the key that wraps the root key. Required. To rotate, create a key
  # under a new label, put the new label here and restart.
  key_label = "coffer-root-key"

  # Label of the HMAC key; needed with the AES-CBC mechanisms (0x1085, 0x1082).
  # With generate_key it is created with any AES mechanism, so a later switch to
  # AES-CBC needs no new key.
  hmac_key_label = "coffer-hmac-key"

  # Labels used to decrypt very old entries that recorded no label (Vault data
  # from before 0.10.1). Default: key_label / hmac_key_label.
  # default_key_label = ""
  # default_hmac_key_label = ""

  # CKA_ID of the keys, as hex. Default: find the keys by label only.
  # key_id = "0x3333"
  # hmac_key_id = "0x3334"

  # Encryption mechanism (CKM_* number). Default: best available.
  #   0x1087 CKM_AES_GCM, 0x1085 CKM_AES_CBC_PAD, 0x1082 CKM_AES_CBC,
  #   0x0009 CKM_RSA_PKCS_OAEP, 0x0001 CKM_RSA_PKCS (discouraged)
  mechanism = "0x1087"

  # HMAC mechanism; only CKM_SHA256_HMAC (0x0251) is supported.
  # hmac_mechanism = "0x0251"

  # RSA-OAEP only: hash (sha1, sha224, sha256, sha384, sha512; default sha256),
  # and whether to encrypt with the public key in-process (default false).
  # rsa_oaep_hash = "sha256"
  # rsa_encrypt_local = "false"

  # Generate the key(s) at init when the label is not found (default false).
  # Turn it off again once the server is initialised.
  generate_key = "true"

  # Open read-write sessions for every operation (default false; a workaround
  # for some HSMs, e.g. AWS CloudHSM).
  # force_rw_session = "false"

  # Most concurrent operations sent to the HSM (default 1).
  # max_parallel = 1

  # Seal migration (ADR 0005): to move from this HSM back to Shamir, mark this
  # stanza disabled = "true" (no other seal stanza), restart, and enter the
  # recovery keys with `coffer operator unseal -migrate`. To move from Shamir
  # to the HSM, just add this stanza. Exactly one seal stanza may be enabled.
  # Default false.
  # disabled = "false"
}

# ---------------------------------------------------------------------------
# Entropy augmentation (ADR 0006): critical security parameters (root key,
# keyring terms, recovery key and shares, root tokens, and the keys of mounts
# enabled with -external-entropy-access) mix the HSM's C_GenerateRandom output
# into the OS generator with HKDF-SHA256, so they are never weaker than either
# source. HSM bytes are fetched 1 KiB at a time and checked by the SP 800-90B
# repetition-count and adaptive-proportion tests. Fail closed: while the HSM
# cannot answer (or fails a health test), generating those keys fails with the
# PKCS#11 code; nothing falls back to OS-only randomness. Data reads/writes
# and plain mounts use the OS generator and keep working. Needs an enabled
# pkcs11 seal (the Shamir seal has no randomness source). mode is required;
# "augmentation" is the only mode.
entropy "seal" {
  mode = "augmentation"
}

# ---------------------------------------------------------------------------
# Storage: one stanza at most.
#   storage "embedded" { path = "..." }  single-file database (the default when
#                                        there is no storage stanza, at
#                                        coffer-data/coffer.redb relative to the
#                                        working directory)
#   storage "file"     { path = "..." }  Vault's one-file-per-entry layout (path
#                                        required)
#   storage "inmem"    {}                memory only, lost on restart
#   storage "postgresql" { ... }         Vault's PostgreSQL backend (below)
storage "file" {
  path = "/var/lib/coffer/data"
}

# Instead of the file storage above, Vault's PostgreSQL backend, with Vault's
# table layout (docs/storage-postgresql.md has the SQL for creating the tables
# by hand, and the TLS rules):
# storage "postgresql" {
#   # libpq connection string, URL or key=value form. Required unless the
#   # VAULT_PG_CONNECTION_URL environment variable is set, which wins over this
#   # field: keep the password there rather than here. sslmode = disable, allow,
#   # prefer (default), require, verify-ca or verify-full; sslrootcert = a PEM
#   # file of CA certificates, or "system". Never logged.
#   connection_url = "postgres://coffer@db.example:5432/coffer?sslmode=verify-full&sslrootcert=/etc/coffer/db-ca.pem"
#
#   # Table of entries (letters, digits and _), created at start-up when
#   # missing. Default "vault_kv_store".
#   table = "vault_kv_store"
#
#   # Most connections (so statements) open at once. Default 128.
#   max_parallel = 128
#
#   # How often a failed first connection is retried at start-up, waiting 1s,
#   # 2s, 4s, ... in between. A refused login is not retried. Default 1.
#   max_connect_retries = 1
#
#   # High availability: several nodes on this database, one active (see
#   # docs/ha.md; needs api_addr). Default "false". ha_table names its lock
#   # table (created with the data table when ha_enabled is on); default
#   # "vault_ha_locks".
#   ha_enabled = "false"
#   ha_table = "vault_ha_locks"
#
#   # Coffer's own: the HA lock's lease, 3s to 60s. A killed active node is
#   # replaced within this long; shorter leases cost more renewals (one every
#   # third of it) and step down sooner when the database is slow. Default
#   # "15s", Vault's fixed value.
#   ha_lock_ttl = "15s"
# }

# ---------------------------------------------------------------------------
# Listener: where the HTTP API answers. Repeat the stanza for several addresses.
listener "tcp" {
  # HOST:PORT to bind. Default "127.0.0.1:8200".
  address = "0.0.0.0:8200"

  # TLS is on unless tls_disable = "true"; then tls_cert_file and tls_key_file
  # (PEM) are required. Use plain HTTP only behind a TLS-terminating proxy or
  # for a first test, as here.
  tls_disable = "true"
  # tls_cert_file = "/etc/coffer/tls/coffer.crt"
  # tls_key_file = "/etc/coffer/tls/coffer.key"

  # Oldest TLS version accepted: "tls12" (default) or "tls13".
  # tls_min_version = "tls12"

  # Largest request body in bytes. Default 33554432 (32 MiB).
  # max_request_size = 33554432

  # HA only: HOST:PORT the cluster listener binds, for requests forwarded by standbys.
  # Default: the host and port of cluster_addr (set this when cluster_addr is not a local
  # address, behind NAT or a load balancer).
  # cluster_address = "0.0.0.0:8201"
}

# ---------------------------------------------------------------------------
# Server options.

# Serve the web UI at /ui/ (default false). The web UI is not built yet: with
# ui = true, /ui/ answers 501 "not supported yet" and the server logs a warning.
# ui = true

# Do not lock memory with mlockall (default false, i.e. memory is locked so keys
# never reach swap). Set true where mlock is not permitted, e.g. in containers.
disable_mlock = true

# Serve sys/raw/<logical path> (default false): read and list the stored form
# of values, as they lie on disk (barrier ciphertext, and the seal-wrap record
# with its HSM key labels for seal-wrapped values), found by logical path, for
# example sys/raw/logical/<mount uuid>/<key>. Needs a token with sudo. Coffer's
# sys/raw never decrypts and never writes.
# raw_storage_endpoint = true

# Address clients are told to use (redirects, wrapped responses); the
# VAULT_API_ADDR environment variable wins. Default: the first listener's address.
api_addr = "http://127.0.0.1:8200"

# Address other HA nodes use to forward requests to this one (the node binds its cluster
# listener on this host and port); VAULT_CLUSTER_ADDR wins. Only used with a storage that has
# ha_enabled = "true", which also requires api_addr. Default: the api_addr host, next port.
# cluster_addr = "https://127.0.0.1:8201"

# HA without the cluster listener: standbys answer with a 307 redirect to the active node's
# api_addr instead of forwarding requests to it (default false).
# disable_clustering = true

# Name shown by `coffer status`. Default: none (a name is generated).
cluster_name = "coffer-hsm"

# trace, debug, info (default), warn, err/error.
log_level = "info"

# Lease TTLs: "768h", "1h30m", "90s" or a number of seconds. Both default to
# 768h; default_lease_ttl may not exceed max_lease_ttl.
default_lease_ttl = "768h"
max_lease_ttl = "768h"
