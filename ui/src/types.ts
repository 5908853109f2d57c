// The API answers the UI reads, as Vault shapes them (only the fields used here).

export interface SealStatus {
  type: string;
  initialized: boolean;
  sealed: boolean;
  t: number;
  n: number;
  progress: number;
  version: string;
  build_date?: string;
  cluster_name?: string;
  storage_type?: string;
  recovery_seal?: boolean;
  migration?: boolean;
}

export interface InitAnswer {
  keys: string[];
  keys_base64: string[];
  recovery_keys?: string[];
  recovery_keys_base64?: string[];
  root_token: string;
}

export interface Mount {
  type: string;
  description: string;
  options: Record<string, string> | null;
  seal_wrap: boolean;
  external_entropy_access: boolean;
  config?: { max_lease_ttl?: number; default_lease_ttl?: number };
}

export interface Envelope<T> {
  data: T;
}

export interface AuthAnswer {
  auth: { client_token: string; policies: string[] };
}
