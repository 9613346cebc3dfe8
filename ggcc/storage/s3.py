"""S3 as shared storage: parallel HEADs, multipart streamed transfers.

Endpoint, region and credentials come from boto3's standard chain
(AWS_ENDPOINT_URL, AWS_PROFILE, instance roles...), never from the URI.
Throttling (503 SlowDown, 429) is retried by botocore's adaptive mode; what
still fails is a StorageError for the tier.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from ggcc.storage.backend import StorageError

_PARALLEL = 32


class S3Backend:
    name = "s3"

    def __init__(self, bucket: str, prefix: str, region: str | None) -> None:
        import boto3
        from boto3.s3.transfer import TransferConfig
        from botocore.config import Config
        from botocore.exceptions import BotoCoreError, ClientError

        self.bucket = bucket
        self.prefix = f"{prefix}/" if prefix else ""
        self._client_error = ClientError
        self._errors = (BotoCoreError, ClientError, OSError)
        cfg = Config(
            region_name=region,
            retries={"max_attempts": 4, "mode": "adaptive"},
            connect_timeout=3,
            read_timeout=30,
            max_pool_connections=_PARALLEL,
        )
        self.s3 = boto3.client("s3", config=cfg)
        self.transfer = TransferConfig(multipart_threshold=16 << 20, multipart_chunksize=16 << 20, max_concurrency=4)

    def describe(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    def _fail(self, e: BaseException) -> StorageError:
        return StorageError(f"{self.describe()}: {e.__class__.__name__}: {e}")

    def _absent(self, e: BaseException) -> bool:
        if isinstance(e, self._client_error):
            code = str(e.response.get("Error", {}).get("Code", ""))  # type: ignore[attr-defined]
            return code in ("404", "NoSuchKey", "NotFound")
        return False

    def missing(self, keys: list[str]) -> list[str]:
        def head(k: str) -> bool:
            try:
                self.s3.head_object(Bucket=self.bucket, Key=self.prefix + k)
                return False
            except self._errors as e:
                if self._absent(e):
                    return True
                raise self._fail(e) from None

        if not keys:
            return []
        with ThreadPoolExecutor(min(_PARALLEL, len(keys))) as pool:
            return [k for k, gone in zip(keys, pool.map(head, keys)) if gone]

    def put_file(self, key: str, path: str) -> None:
        try:
            self.s3.upload_file(path, self.bucket, self.prefix + key, Config=self.transfer)
        except self._errors as e:
            raise self._fail(e) from None

    def get_file(self, key: str, dest: str) -> bool:
        try:
            self.s3.download_file(self.bucket, self.prefix + key, dest, Config=self.transfer)
            return True
        except self._errors as e:
            if self._absent(e):
                return False
            raise self._fail(e) from None

    def put_small(self, key: str, data: bytes) -> None:
        try:
            self.s3.put_object(Bucket=self.bucket, Key=self.prefix + key, Body=data)
        except self._errors as e:
            raise self._fail(e) from None

    def get_small(self, key: str) -> bytes | None:
        try:
            return bytes(self.s3.get_object(Bucket=self.bucket, Key=self.prefix + key)["Body"].read())
        except self._errors as e:
            if self._absent(e):
                return None
            raise self._fail(e) from None
