import streamlit as st

st.title("lab_network_view")
st.info("This page is being written.")
