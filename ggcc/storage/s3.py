"""S3 as shared storage: parallel HEADs, multipart streamed transfers.

Endpoint, region and credentials come from boto3's standard chain
(AWS_ENDPOINT_URL, AWS_PROFILE, instance roles...), never from the URI.
Throttling (503 SlowDown, 429) is retried by botocore's adaptive mode; what
still fails is a StorageError for the tier.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

from ggcc.storage.backend import ReadOnly, StorageError

_PARALLEL = 32
_LIST_AT = 64  # from this many keys, try one LIST before many HEADs


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
        base = dict(
            region_name=region,
            retries={"max_attempts": 4, "mode": "adaptive"},
            connect_timeout=3,
            read_timeout=30,
            max_pool_connections=_PARALLEL,
        )
        try:
            # Blobs are verified by their sha256 on every download; the
            # default flexible checksums would re-encode every PUT as
            # aws-chunked with a trailer, costing CPU on both ends.
            cfg = Config(**base, request_checksum_calculation="when_required", response_checksum_validation="when_required")
        except TypeError:  # botocore < 1.36 (an older Lambda runtime's) has neither option nor the default
            cfg = Config(**base)
        self.s3 = boto3.client("s3", config=cfg)
        self.transfer = TransferConfig(multipart_threshold=16 << 20, multipart_chunksize=16 << 20, max_concurrency=4)

    def describe(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    def _fail(self, e: BaseException, writing: bool = False) -> StorageError:
        if writing and isinstance(e, self._client_error):
            code = str(e.response.get("Error", {}).get("Code", ""))  # type: ignore[attr-defined]
            if code in ("AccessDenied", "403", "AllAccessDisabled"):
                return ReadOnly(f"{self.describe()}: writes refused ({code})")
        return StorageError(f"{self.describe()}: {e.__class__.__name__}: {e}")

    def _absent(self, e: BaseException) -> bool:
        if isinstance(e, self._client_error):
            code = str(e.response.get("Error", {}).get("Code", ""))  # type: ignore[attr-defined]
            return code in ("404", "NoSuchKey", "NotFound")
        return False

    def missing(self, keys: list[str]) -> list[str]:
        if len(keys) >= _LIST_AT:
            listed = self._list_if_short(keys)
            if listed is not None:
                return [k for k in keys if k not in listed]

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

    def _list_if_short(self, keys: list[str]) -> set[str] | None:
        """Every key under the keys' common directory, if a few LIST pages
        hold them all; one LIST answers for up to 1,000 HEADs."""
        tops = {k.split("/", 1)[0] for k in keys}
        if len(tops) != 1:
            return None
        top = tops.pop() + "/"
        max_pages = 4 + 4 * len(keys) // 1000
        found: set[str] = set()
        token: str | None = None
        try:
            for _ in range(max_pages):
                kw = {"Bucket": self.bucket, "Prefix": self.prefix + top, "MaxKeys": 1000}
                if token:
                    kw["ContinuationToken"] = token
                page = self.s3.list_objects_v2(**kw)
                found.update(o["Key"][len(self.prefix):] for o in page.get("Contents", []))
                if not page.get("IsTruncated"):
                    return found
                token = page.get("NextContinuationToken")
        except self._errors as e:
            raise self._fail(e) from None
        return None  # too many objects: HEAD each key instead

    def put_file(self, key: str, path: str) -> None:
        try:
            if os.path.getsize(path) < self.transfer.multipart_threshold:
                with open(path, "rb") as f:  # one request, streamed from the file
                    self.s3.put_object(Bucket=self.bucket, Key=self.prefix + key, Body=f)
            else:
                self.s3.upload_file(path, self.bucket, self.prefix + key, Config=self.transfer)
        except self._errors as e:
            raise self._fail(e, writing=True) from None

    def put_files(self, items: list[tuple[str, str]]) -> None:
        if not items:
            return
        with ThreadPoolExecutor(min(_PARALLEL, len(items))) as pool:
            list(pool.map(lambda kp: self.put_file(*kp), items))

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
            raise self._fail(e, writing=True) from None

    def get_small(self, key: str) -> bytes | None:
        try:
            return bytes(self.s3.get_object(Bucket=self.bucket, Key=self.prefix + key)["Body"].read())
        except self._errors as e:
            if self._absent(e):
                return None
            raise self._fail(e) from None

    def delete(self, key: str) -> None:
        try:
            self.s3.delete_object(Bucket=self.bucket, Key=self.prefix + key)
        except self._errors as e:
            if not self._absent(e):
                raise self._fail(e) from None
