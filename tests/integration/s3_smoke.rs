use aws_sdk_s3::primitives::ByteStream;
use integration_tests::s3_server::EmbeddedS3;

#[tokio::test]
async fn embedded_s3_round_trips_an_object_over_http() {
    let server = EmbeddedS3::start().unwrap();
    let s3 = server.client();
    s3.create_bucket().bucket("smoke").send().await.unwrap();
    s3.put_object()
        .bucket("smoke")
        .key("dir/a b+c%é.txt")
        .body(ByteStream::from_static(b"hello"))
        .send()
        .await
        .unwrap();
    let got = s3
        .get_object()
        .bucket("smoke")
        .key("dir/a b+c%é.txt")
        .send()
        .await
        .unwrap();
    assert_eq!(
        got.body.collect().await.unwrap().into_bytes().as_ref(),
        b"hello"
    );
    let listed = s3.list_objects_v2().bucket("smoke").send().await.unwrap();
    assert_eq!(listed.contents().len(), 1);
}
