//! The library's examples, run as tests so that what they show holds.

#[allow(dead_code, reason = "the example's main runs only as an example")]
#[path = "../examples/custom_policy.rs"]
mod custom_policy;

#[tokio::test]
async fn the_custom_policy_example_takes_the_offices_dates_and_renames_a_second_city_of_one_name() {
    let cities = custom_policy::run().await.unwrap();
    assert_eq!(
        cities,
        ["Lisboa 1147-10-25", "Porto -", "Porto (2) -"],
        "b's name and the office's date; b's Porto renamed by the policy and moved to a fresh key"
    );
}
