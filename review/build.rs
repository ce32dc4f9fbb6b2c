fn main() {
    memscope_link::link_libtorch();
}
